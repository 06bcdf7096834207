// ONNX Runtime as referee, as issue 11's new user had it: the minimal case of the llvmpipe
// staging bug and the README's quick-start shape give ONNX Runtime's logits on both CPU
// adapters. Same random weights (csnc weights random) and the same random clip for both.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "../runtime/safetensors.js";
import { randomArray, relL2 } from "./gpu.js";
import { run } from "./helpers.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-referee-"));
const minimal = path.join(work, "minimal.csn");
writeFileSync(
  minimal,
  "model m() {\n  input 16 x 1 x 8 x 8\n  dwconv(3x3x3)\n  avgpool\n  fc(10)\n}\n",
);

const cases: [string, string, string[], number[]][] = [
  ["the minimal case (16x1x8x8 dwconv, N x T = 1)", minimal, [], [1, 16, 1, 8, 8]],
  [
    "the README's ir-CSN-50 at 1x3x8x112x112",
    path.resolve(import.meta.dirname, "../models/ir-csn-50.csn"),
    ["--input", "3x8x112x112"],
    [1, 3, 8, 112, 112],
  ],
];

describe("ONNX Runtime as referee", () => {
  cases.forEach(([name, model, size, shape], i) => {
    it(`${name}: csnc on llvmpipe and SwiftShader gives ONNX Runtime's logits`, async () => {
      const weights = path.join(work, `w${i}.safetensors`);
      const onnx = path.join(work, `m${i}.onnx`);
      const clip = path.join(work, `clip${i}.safetensors`);
      expect((await run("weights", "random", model, ...size, "-o", weights)).code).toBe(0);
      const e = await run("export", model, ...size, "--weights", weights, "--onnx", onnx);
      expect(e.code, e.err).toBe(0);
      // Inputs of O(1), so that a misplaced plane shows in the logits.
      const input = randomArray(
        shape.reduce((a, b) => a * b, 1),
        11 + i,
      );
      writeFileSync(clip, writeSafetensors(new Map([["input", { shape, data: input }]])));

      const session = await ort.InferenceSession.create(onnx, { intraOpNumThreads: 2 });
      const want = (await session.run({ input: new ort.Tensor("float32", input, shape) })).logits!
        .data as Float32Array;

      for (const backend of ["opengles", "swiftshader"]) {
        const out = path.join(work, `out${i}-${backend}.safetensors`);
        const r = await run(
          "run",
          model,
          "--weights",
          weights,
          "--input",
          clip,
          "--backend",
          backend,
          "--output",
          out,
        );
        expect(r.code, r.err).toBe(0);
        expect(r.out).toMatch(new RegExp(` on ${backend} `));
        const got = readSafetensors(readFileSync(out), out).tensors.get("logits")!.data!;
        expect(relL2(got, want), backend).toBeLessThan(1e-4);
      }
    });
  });
});
