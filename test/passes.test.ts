// The rewrite engine and the pass pipeline: well-formed graphs after every pass on every shipped
// model, the same fusions as before the engine, one sweep per pass, and linear scaling.
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileGraph, formatGraph, lower, passNames, verify } from "../compiler/compile.js";
import { checkFile, type Graph } from "../compiler/index.js";
import type { InferenceGraph } from "../compiler/inference.js";
import { compatLimits } from "../compiler/kernels/common.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { passes } from "../compiler/passes/index.js";
import { rewrite } from "../compiler/passes/rewrite.js";
import { checkSource, run } from "./helpers.js";

const models = path.resolve(import.meta.dirname, "../models");
const big = { ...compatLimits, maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 1 << 30 };
const shipped = [
  ...readdirSync(models).filter((f) => f.endsWith(".csn")),
  ...readdirSync(path.join(models, "variants")).map((f) => `variants/${f}`),
].sort();

function graph(model: string, input: [number, number, number, number] = [3, 4, 32, 32]): Graph {
  const file = path.join(models, model);
  const r = checkFile(file, projectRoot(file), nodeHost, { input, set: new Map(), batch: 1 });
  expect(r.diagnostics).toEqual([]);
  return r.graphs[0]!;
}

function source(text: string): Graph {
  const r = checkSource(text);
  expect(r.diagnostics).toEqual([]);
  return r.graphs[0]!;
}

// Dispatch counts at 1x3x4x32x32 from the recursive fuse/fold passes this engine replaced
// (computed with that code at commit 1e6028f, before the change); ir-CSN-152's 159 is the README's.
const dispatches: Record<string, number> = {
  "ip-csn-26.csn": 40,
  "ip-csn-50.csn": 73,
  "ip-csn-101.csn": 141,
  "ip-csn-152.csn": 209,
  "ir-csn-26.csn": 32,
  "ir-csn-50.csn": 57,
  "ir-csn-101.csn": 108,
  "ir-csn-152.csn": 159,
  // Added after the old passes: counted by hand (stem conv+bn+relu, pool, conv_a, conv_b, the
  // shortcut conv+bn, conv_c+bn+add+relu, global pool, fc, softmax).
  "ir-csn-mini.csn": 9,
  "resnet3d-26.csn": 32,
  "resnet3d-50.csn": 57,
  "resnet3d-101.csn": 108,
  "resnet3d-152.csn": 159,
  "variants/bottleneck.csn": 57,
  "variants/bottleneck-d.csn": 57,
  "variants/bottleneck-dg.csn": 57,
  "variants/bottleneck-g.csn": 57,
  "variants/simple.csn": 24,
  "variants/simple-d.csn": 40,
  "variants/simple-g.csn": 24,
};

describe("rewrite passes", () => {
  it("covers every shipped model", () => {
    expect(shipped).toEqual(Object.keys(dispatches).sort());
  });

  for (const model of shipped) {
    it(`${model}: verify() passes after every pass, each pass is a fixpoint, dispatches as before`, () => {
      const seen: string[] = [];
      const stages = new Map<string, InferenceGraph>();
      const g = graph(model);
      lower(g, (pass, ig) => {
        seen.push(pass);
        stages.set(pass, ig);
        expect(verify(ig), pass).toEqual([]);
      });
      expect(seen).toEqual(passNames);
      // One sweep reached the fixpoint: sweeping the pass's output again fires no rule.
      for (const pass of passes)
        expect(rewrite(stages.get(pass.name)!, pass.rules).fired.size, pass.name).toBe(0);
      expect(compileGraph(g, big).dispatches.length).toBe(dispatches[model]);
    });
  }

  it("ir-CSN-152 at 1x3x32x224x224: 159 dispatches (README)", () => {
    expect(compileGraph(graph("ir-csn-152.csn", [3, 32, 224, 224]), big).dispatches.length).toBe(
      159,
    );
  });

  it("fuses odd chains as the recursive passes did", () => {
    // Expected kernels from the old passes on this model: a second relu or bn stays unfused, an
    // add of non-convs takes its relu, a conv with a relu cannot take an add.
    const g = lower(
      source(`model a {
  input 8 x 1 x 4 x 4
  conv(8, 1x1x1)
  relu
  relu
  bn
  relu
  conv(8, 1x1x1)
  bn
  bn
  relu
  residual { relu }
  relu
  residual { conv(8, 1x1x1) bn }
  relu
  relu
  residual { conv(8, 1x1x1) bn relu conv(8, 1x1x1) }
  residual { conv(8, 1x1x1) }
  conv(8, 1x1x1)
}`),
    );
    expect(verify(g)).toEqual([]);
    expect(g.nodes.length - 1).toBe(16);
    expect(
      compileGraph(
        source(`model b {
  input 8 x 1 x 4 x 4
  conv(8, 1x1x1)
  relu
}`),
        big,
      ).dispatches.map((d) => d.layers),
    ).toEqual([["conv", "relu"], []]);
  });

  it("verify() reports arity, shape, order and epilogue problems", () => {
    const g = lower(graph("ir-csn-26.csn"));
    const conv = g.nodes.findIndex((n) => n.op.kind === "conv");
    const bad = (f: (n: InferenceGraph["nodes"][number]) => object) => ({
      ...g,
      nodes: g.nodes.map((n, i) => (i === conv ? { ...n, ...f(n) } : n)),
    });
    expect(verify(bad(() => ({ shape: [1, 1, 1, 1, 1] }))).join()).toMatch(/has shape 1x1x1x1x1/);
    expect(verify(bad((n) => ({ inputs: [...n.inputs, n.inputs[0]!] }))).join()).toMatch(
      /has 2 inputs, expected 1/,
    );
    expect(verify(bad(() => ({ order: -5 }))).join()).toMatch(/out of schedule order/);
    expect(verify(bad((n) => ({ op: { ...n.op, reluAfterAdd: true } }))).join()).toMatch(
      /ReLU after an add/,
    );
    expect(verify(bad(() => ({ inputs: [99999] }))).join()).toMatch(/before it is computed/);
  });

  it("formatGraph prints one line per node with the fused epilogue", () => {
    const text = formatGraph(lower(graph("ir-csn-50.csn")));
    expect(text.split("\n")[0]).toMatch(/^graph /);
    expect(text).toMatch(
      /conv\(\d+, 1x1x1.*\+bn\(res3\.0\.bn_c\)\+add\+relu\(%\d+, %\d+\) : 1x\d+x/,
    );
  });

  it("compileGraph's onPass sees every stage", () => {
    const seen: string[] = [];
    const plan = compileGraph(
      graph("ir-csn-26.csn"),
      big,
      {},
      {
        onPass: (name) => seen.push(name),
        verify: true,
      },
    );
    expect(seen).toEqual(passNames);
    expect(plan.dispatches.length).toBe(32);
  });

  it("scales linearly: 20 000 relu lines and 5 000 conv/relu pairs compile in seconds", () => {
    for (const body of ["  relu\n".repeat(20000), "  conv(8, 1x1x1)\n  relu\n".repeat(5000)]) {
      const g = source(`model s {\n  input 8 x 1 x 4 x 4\n${body}}\n`);
      const start = performance.now();
      const plan = compileGraph(g, big);
      // Generous for a loaded 2-core CI machine; the quadratic passes took minutes or ran out of memory.
      expect(performance.now() - start).toBeLessThan(20_000);
      expect(plan.dispatches.length).toBe(body.startsWith("  relu") ? 20001 : 5001);
    }
  }, 60_000);
});

describe("csnc compile --dump-after", () => {
  it("prints the graph after the named pass, and refuses an unknown pass", async () => {
    const file = path.join(models, "ir-csn-50.csn");
    const r = await run("compile", file, "--dump-after", "fuse-residual");
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^graph ir_csn_50: logits %\d+, probabilities %\d+/);
    // After fuse-residual the block's add lives in conv_c; the relu after it is not fused yet.
    expect(r.out).toMatch(/res2\.0\.conv_c .*res2\.0\.add\]/);
    expect(r.out).not.toMatch(/res2\.0\.conv_c .*res2\.0\.relu\]/);
    const before = await run("compile", file, "--dump-after", "fold-bn");
    expect(before.out).toMatch(/= add\(/);
    const bad = await run("compile", file, "--dump-after", "nope");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/fuse-residual/);
  });
});
