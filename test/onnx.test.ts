// `csnc export --onnx`: the exported fixture models run in ONNX Runtime and give PyTorch's logits.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import onnxProto from "onnx-proto";
import { describe, expect, it } from "vitest";
import { fixturesDir, modelCases } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { run } from "./helpers.js";

const models = path.resolve(import.meta.dirname, "../models");
const work = mkdtempSync(path.join(tmpdir(), "csnc-onnx-"));

describe("ONNX export", () => {
  for (const c of modelCases()) {
    it(`${c.name} runs in onnxruntime-node with the fixture's logits`, async () => {
      const out = path.join(work, `${c.name}.onnx`);
      const [n, ...chw] = c.input.shape;
      const sets = Object.entries(c.set).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
      const weights = path.join(fixturesDir, "models", c.name, "weights.safetensors");
      const r = await run(
        "export",
        path.join(models, c.model),
        "--onnx",
        out,
        "--weights",
        weights,
        "--naming",
        "vmz",
        "--input",
        chw.join("x"),
        "--batch",
        String(n),
        ...sets,
      );
      expect(r.err).toBe("");
      expect(r.code).toBe(0);

      const model = onnxProto.onnx.ModelProto.decode(readFileSync(out));
      expect(Number(model.opsetImport?.[0]?.version)).toBe(13);
      const counts: Record<string, number> = {};
      for (const node of model.graph?.node ?? [])
        counts[node.opType!] = (counts[node.opType!] ?? 0) + 1;
      // ResNet-50 layout: stem + 16 blocks x 3 convs (+1 for ip) + 4 projections; a BN and a ReLU per conv except after conv_c and projections.
      const ip = c.name.startsWith("ip") ? 16 : 0;
      expect(counts).toMatchObject({
        Conv: 53 + ip,
        BatchNormalization: 53 + ip,
        Add: 16,
        MaxPool: 1,
        GlobalAveragePool: 1,
        Gemm: 1,
        Flatten: 1,
        Softmax: 1,
      });
      expect(counts.Relu).toBe(1 + 16 * 3);

      const session = await ort.InferenceSession.create(out, { intraOpNumThreads: 2 });
      const result = await session.run({
        input: new ort.Tensor("float32", c.input.data!, c.input.shape as number[]),
      });
      expect(result.logits!.dims).toEqual([n, c.meta.classes]);
      expect(relL2(result.logits!.data as Float32Array, c.logits.data!)).toBeLessThan(1e-4);
      expect(relL2(result.probabilities!.data as Float32Array, c.probabilities.data!)).toBeLessThan(
        1e-4,
      );
    });
  }

  it("names missing weights and refuses a missing output path", async () => {
    const r = await run(
      "export",
      path.join(models, "ir-csn-50.csn"),
      "--onnx",
      path.join(work, "x.onnx"),
      "--weights",
      path.join(fixturesDir, "models/ir-csn-50-w8/weights.safetensors"),
      "--naming",
      "vmz",
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain("has shape 8x3x3x7x7; expected 64x3x3x7x7");
    expect((await run("export", path.join(models, "ir-csn-50.csn"))).code).toBe(2);
  });
});
