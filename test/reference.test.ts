// The float64 reference executor is proven against every PyTorch fixture before it judges
// the GPU kernels.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { checkFile } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { vmzName } from "../runtime/naming.js";
import { modelCases, opCases } from "./fixtures.js";
import { buildGraph, relL2 } from "./gpu.js";
import { runReference } from "./reference/executor.js";

describe("reference executor vs PyTorch ops", () => {
  for (const c of opCases()) {
    it(c.name, () => {
      const graph = buildGraph(c.source, { batch: c.batch });
      const values = runReference(
        graph,
        c.input,
        new Map([...c.weights].map(([k, v]) => [k, v.data!])),
      );
      const out = values.get(graph.output)!;
      expect(out.data.length).toBe(c.output.data!.length);
      expect(relL2(out.data, c.output.data!)).toBeLessThan(1e-6);
    });
  }
});

describe("reference executor vs PyTorch models", () => {
  for (const c of modelCases()) {
    it(c.name, () => {
      const file = path.resolve(import.meta.dirname, "../models", c.model);
      const set = new Map(
        Object.entries(c.set).map(([k, v]) => [k, { type: "int" as const, value: v }]),
      );
      const [n, ...chw] = c.input.shape;
      const r = checkFile(file, projectRoot(file), nodeHost, {
        set,
        input: chw as [number, number, number, number],
        batch: n,
      });
      const graph = r.graphs[0]!;
      const paths = new Set(graph.nodes.map((x) => x.path));
      const weights = new Map<string, Float32Array>();
      for (const node of graph.nodes) {
        const name = vmzName(node.path, paths);
        if (!name) continue;
        for (const suffix of ["weight", "bias", "running_mean", "running_var"]) {
          const t = c.weights.get(`${name}.${suffix}`);
          if (t) weights.set(`${node.path}.${suffix}`, t.data!);
        }
      }
      const values = runReference(graph, c.input.data!, weights);
      expect(relL2(values.get(graph.output)!.data, c.logits.data!)).toBeLessThan(1e-5);
    });
  }
});
