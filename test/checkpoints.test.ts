// Published checkpoints, as people find them: every file in test/fixtures/checkpoints behaves
// as its README row says, through `csnc import` and through `--weights` directly.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors } from "../runtime/safetensors.js";
import { fixturesDir } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { run } from "./helpers.js";

const models = path.resolve(import.meta.dirname, "../models");
const work = mkdtempSync(path.join(tmpdir(), "csnc-import-"));
const ckpt = (f: string) => path.join(fixturesDir, "checkpoints", f);
const io = (model: string) => path.join(fixturesDir, "models", model, "io.safetensors");
const logits = (file: string, name = "logits") =>
  readSafetensors(readFileSync(file), file).tensors.get(name)!.data!;

// [checkpoint, model file, fixture with the input, expected logits file, tolerance]
const good: [string, string, string, string, number][] = [
  ["mmaction2-ir-csn-50-w8.pth", "ir-csn-50.csn", "ir-csn-50-w8", io("ir-csn-50-w8"), 1e-4],
  ["mmaction2-ip-csn-50-w8.pth", "ip-csn-50.csn", "ip-csn-50-w8", io("ip-csn-50-w8"), 1e-4],
  [
    "pytorchvideo-ir-csn-50-w8.pyth",
    "ir-csn-50.csn",
    "ir-csn-50-w8",
    ckpt("pytorchvideo-ir-csn-50-w8.expected.safetensors"),
    1e-4,
  ],
  ["vmz-ip-csn-50-w8-legacy.pth", "ip-csn-50.csn", "ip-csn-50-w8", io("ip-csn-50-w8"), 1e-4],
  ["vmz-ir-csn-50-w8-fp16.pth", "ir-csn-50.csn", "ir-csn-50-w8", io("ir-csn-50-w8"), 1e-2],
];

describe("checkpoints", () => {
  for (const [file, model, fixture, expected, tolerance] of good) {
    it(`${file}: through --weights, and imported then run with no further flags`, async () => {
      const common = ["--input", io(fixture), "--backend", "opengles"];
      const direct = path.join(work, `${file}.direct.safetensors`);
      let r = await run(
        "run",
        path.join(models, model),
        "--weights",
        ckpt(file),
        "--set",
        "width=8",
        "--set",
        "classes=10",
        ...common,
        "--output",
        direct,
      );
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(relL2(logits(direct), logits(expected))).toBeLessThan(tolerance);

      const imported = path.join(work, `${file}.imported.safetensors`);
      r = await run(
        "import",
        ckpt(file),
        "--model",
        path.join(models, model),
        "--set",
        "width=8",
        "--set",
        "classes=10",
        "-o",
        imported,
        "--json",
      );
      expect(r.code).toBe(0);
      const report = JSON.parse(r.out);
      expect(report.detected).toBe(true);
      expect(report.bn_eps).toBe(file.startsWith("pytorchvideo") ? 1e-5 : 1e-3);
      const meta = readSafetensors(readFileSync(imported), imported).metadata;
      expect(meta.source_sha256).toMatch(/^[0-9a-f]{64}$/);
      const out = path.join(work, `${file}.out.safetensors`);
      r = await run(
        "run",
        path.join(models, model),
        "--weights",
        imported,
        ...common,
        "--output",
        out,
      );
      expect(r.code).toBe(0);
      expect(relL2(logits(out), logits(expected))).toBeLessThan(tolerance);
    });
  }

  it("every checkpoint with --precision f16-storage: logits within 1e-2, the same top-1", async () => {
    const top1 = (x: Float32Array, n: number) =>
      [...Array(n).keys()].map((i) => {
        const row = [...x.subarray((i * x.length) / n, ((i + 1) * x.length) / n)];
        return row.indexOf(Math.max(...row));
      });
    for (const [file, model, fixture, expected] of good) {
      const out = path.join(work, `${file}.f16.safetensors`);
      const r = await run(
        "run",
        path.join(models, model),
        "--weights",
        ckpt(file),
        "--set",
        "width=8",
        "--set",
        "classes=10",
        "--input",
        io(fixture),
        "--backend",
        "opengles",
        "--precision",
        "f16-storage",
        "--output",
        out,
      );
      expect(r.code, r.err).toBe(0);
      expect(r.out).toContain("(f16-storage)");
      const want = logits(expected);
      const n = readSafetensors(readFileSync(io(fixture)), fixture).tensors.get("input")!.shape[0]!;
      expect(relL2(logits(out), want), file).toBeLessThan(1e-2);
      expect(top1(logits(out), n), file).toEqual(top1(want, n));
    }
  });

  it("refuses malicious.pth by the global it asks for, executing nothing", async () => {
    const r = await run(
      "import",
      ckpt("malicious.pth"),
      "--model",
      path.join(models, "ir-csn-50.csn"),
      "-o",
      path.join(work, "m.safetensors"),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/refused: .* global 'posix\.system'/);
  });

  it("gives clear errors for truncated, empty and foreign files", async () => {
    const empty = path.join(work, "empty.pth");
    const text = path.join(work, "notes.pth");
    (await import("node:fs")).writeFileSync(empty, "");
    (await import("node:fs")).writeFileSync(text, "just some text");
    for (const [file, message] of [
      [ckpt("truncated.pth"), /damaged zip archive/],
      [empty, /the file is empty/],
      [text, /neither a PyTorch checkpoint/],
    ] as const) {
      const r = await run(
        "import",
        file,
        "--model",
        path.join(models, "ir-csn-50.csn"),
        "-o",
        path.join(work, "x.safetensors"),
      );
      expect(r.code, file).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });
});
