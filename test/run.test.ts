// `csnc run` end to end, and every way weights and inputs can be wrong.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors, writeSafetensors } from "../runtime/safetensors.js";
import { fixturesDir } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { run } from "./helpers.js";

const models = path.resolve(import.meta.dirname, "../models");
const fixture = (name: string, file: string) => path.join(fixturesDir, "models", name, file);
const work = mkdtempSync(path.join(tmpdir(), "csnc-run-"));

/** `csnc run` of a width-8 fixture network (VMZ weights) on a clip file. */
const fixtureArgs = (
  backend: string,
  name = "ir-csn-50-w8",
  clip = fixture(name, "io.safetensors"),
) => [
  "run",
  path.join(models, `${name.slice(0, 2)}-csn-50.csn`),
  "--weights",
  fixture(name, "weights.safetensors"),
  "--naming",
  "vmz",
  "--input",
  clip,
  "--set",
  "width=8",
  "--set",
  "classes=10",
  "--backend",
  backend,
];
const irArgs = (backend: string) => fixtureArgs(backend);

describe("csnc run", () => {
  for (const backend of ["swiftshader", "opengles"]) {
    it(`reproduces the ir-CSN-50 fixture on ${backend}, writes logits and probabilities`, async () => {
      const output = path.join(work, `out-${backend}.safetensors`);
      const r = await run(...irArgs(backend), "--output", output);
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`ir_csn_50 on ${backend}`));
      expect(r.out).toMatch(/^sample 0: \d+ \(0\.\d{4}\)/m);
      expect(r.out).toMatch(/^sample 1: /m);
      const got = readSafetensors(readFileSync(output), output).tensors;
      const want = readSafetensors(
        readFileSync(fixture("ir-csn-50-w8", "io.safetensors")),
        "io",
      ).tensors;
      expect(got.get("logits")!.shape).toEqual([2, 10]);
      expect(relL2(got.get("logits")!.data!, want.get("logits")!.data!)).toBeLessThan(1e-4);
      expect(relL2(got.get("probabilities")!.data!, want.get("probabilities")!.data!)).toBeLessThan(
        1e-4,
      );
    });
  }

  // The README's quick-start shape class: batch 1 with res5 at T = 1 read through padded
  // staging textures on llvmpipe (once copied outside their border: wrong top-1).
  for (const backend of ["swiftshader", "opengles"]) {
    for (const name of ["ir-csn-50-w8", "ip-csn-50-w8"]) {
      it(`reproduces a batch-1 ${name} clip whose res5 frames reach T = 1 on ${backend}`, async () => {
        const output = path.join(work, `t1-${name}-${backend}.safetensors`);
        const io = path.join(fixturesDir, "batch1-t1", `${name}.safetensors`);
        const r = await run(...fixtureArgs(backend, name, io), "--output", output);
        expect(r.code, r.err).toBe(0);
        const got = readSafetensors(readFileSync(output), output).tensors;
        const want = readSafetensors(readFileSync(io), io).tensors;
        expect(relL2(got.get("logits")!.data!, want.get("logits")!.data!)).toBeLessThan(1e-4);
      });
    }
  }

  it("auto moves on to SwiftShader when a model exceeds llvmpipe's 128 MiB buffers", async () => {
    const big = path.join(work, "big.csn");
    writeFileSync(
      big,
      "model big() {\n  input 4 x 1 x 4096 x 3200\n  relu\n  avgpool\n  fc(2)\n}\n",
    );
    const r = await run("run", big);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(
      /too large for llvmpipe \(layer input produces 1x4x1x4096x3200 \(200\.0 MiB\)/,
    );
    expect(r.out).toMatch(/^big on swiftshader /);
    const pinned = await run("run", big, "--backend", "opengles");
    expect(pinned.code).toBe(1);
    expect(pinned.err).toMatch(/128 MiB/);
    // Too large for both: the error says so, with SwiftShader's limit.
    const huge = await run("run", big, "--shape", "1x4x1x16384x4200");
    expect(huge.code).toBe(1);
    expect(huge.err).toMatch(/too large for llvmpipe and for SwiftShader.*1024 MiB/);
  });

  it("runs with random weights and a random clip, as JSON", async () => {
    const r = await run(
      "run",
      path.join(models, "ip-csn-26.csn"),
      "--set",
      "width=4",
      "--shape",
      "1x3x4x16x16",
      "--backend",
      "swiftshader",
      "--json",
    );
    expect(r.code).toBe(0);
    const json = JSON.parse(r.out);
    expect(json).toMatchObject({
      model: "ip_csn_26",
      backend: "swiftshader",
      input: [1, 3, 4, 16, 16],
      weights: "random",
    });
    expect(json.probabilities[0].reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 4);
    expect(json.top[0]).toHaveLength(5);
  });
});

describe("bad weights and inputs", () => {
  const weights = readSafetensors(
    readFileSync(fixture("ir-csn-50-w8", "weights.safetensors")),
    "w",
  ).tensors;
  const save = (
    name: string,
    edit: (m: Map<string, { shape: readonly number[]; data: Float32Array }>) => void,
  ) => {
    const m = new Map([...weights].map(([k, v]) => [k, { shape: v.shape, data: v.data! }]));
    edit(m);
    const file = path.join(work, name);
    writeFileSync(file, writeSafetensors(m));
    return file;
  };
  const withWeights = (file: string) =>
    irArgs("swiftshader").map((a, i, all) => (all[i - 1] === "--weights" ? file : a));

  it("names a missing tensor and its expected shape", async () => {
    const r = await run(
      ...withWeights(save("missing.safetensors", (m) => m.delete("layer2.0.conv2.0.weight"))),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain("missing tensor layer2.0.conv2.0.weight (expected shape 16x1x3x3x3)");
  });

  it("names a mis-shaped and an unexpected tensor", async () => {
    const file = save("wrong.safetensors", (m) => {
      m.set("fc.bias", { shape: [11], data: new Float32Array(11) });
      m.set("layer9.conv.weight", { shape: [2], data: new Float32Array(2) });
    });
    const r = await run(...withWeights(file));
    expect(r.code).toBe(1);
    expect(r.err).toContain("tensor fc.bias has shape 11; expected 10");
    expect(r.err).toContain("unexpected tensor layer9.conv.weight");
  });

  it("recognises VMZ names by itself, and hints at them when told otherwise", async () => {
    const auto = await run(
      ...irArgs("swiftshader").filter((a, i, all) => a !== "--naming" && all[i - 1] !== "--naming"),
    );
    expect(auto.code).toBe(0);
    const forced = await run(
      ...irArgs("swiftshader").map((a, i, all) => (all[i - 1] === "--naming" ? "csnc" : a)),
    );
    expect(forced.code).toBe(1);
    expect(forced.err).toContain("hint: these look like VMZ names: add --naming vmz");
  });

  it("refuses truncated and non-safetensors files", async () => {
    const bytes = readFileSync(fixture("ir-csn-50-w8", "weights.safetensors"));
    const truncated = path.join(work, "truncated.safetensors");
    writeFileSync(truncated, bytes.subarray(0, bytes.length / 2));
    let r = await run(...withWeights(truncated));
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /truncated\.safetensors: not a valid safetensors file: tensor '.*' lies outside the data/,
    );
    const text = path.join(work, "text.safetensors");
    writeFileSync(text, "hello, world");
    r = await run(...withWeights(text));
    expect(r.code).toBe(1);
    expect(r.err).toContain("neither a PyTorch checkpoint (.pth/.pyth) nor a safetensors file");
    r = await run(...withWeights(path.join(work, "nothing-here.safetensors")));
    expect(r.code).toBe(1);
    expect(r.err).toContain("no such file");
  });

  it("refuses an input of the wrong rank or name", async () => {
    const bad = path.join(work, "bad-input.safetensors");
    writeFileSync(
      bad,
      writeSafetensors(
        new Map([["input", { shape: [3, 8, 32, 32], data: new Float32Array(3 * 8 * 32 * 32) }]]),
      ),
    );
    let r = await run(
      ...irArgs("swiftshader").map((a, i, all) => (all[i - 1] === "--input" ? bad : a)),
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain("expected N x C x T x H x W");
    r = await run(...irArgs("swiftshader"), "--input-name", "clip");
    expect(r.code).toBe(1);
    expect(r.err).toContain("has no float tensor 'clip'");
  });
});

describe("safetensors reader", () => {
  it("widens float16 and bfloat16 and skips integer counters", () => {
    const header = JSON.stringify({
      a: { dtype: "F16", shape: [2], data_offsets: [0, 4] },
      b: { dtype: "BF16", shape: [1], data_offsets: [4, 6] },
      n: { dtype: "I64", shape: [], data_offsets: [6, 14] },
    });
    const bytes = new Uint8Array(8 + header.length + 14);
    const view = new DataView(bytes.buffer);
    view.setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    const d = 8 + header.length;
    view.setUint16(d, 0x3c00, true); // 1.0
    view.setUint16(d + 2, 0xc000, true); // -2.0
    view.setUint16(d + 4, 0x4049, true); // bf16 3.140625
    const t = readSafetensors(bytes, "x").tensors;
    expect([...t.get("a")!.data!]).toEqual([1, -2]);
    expect(t.get("b")!.data![0]).toBeCloseTo(3.140625, 6);
    expect(t.get("n")!.data).toBeUndefined();
  });

  it("rejects sizes that disagree with shapes", () => {
    const header = JSON.stringify({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } });
    const bytes = new Uint8Array(8 + header.length + 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    expect(() => readSafetensors(bytes, "x")).toThrow(
      "tensor 'a' (F32 3) needs 12 bytes but has 8",
    );
  });
});

describe("csnc profile", () => {
  for (const [backend, method] of [
    ["swiftshader", "timestamp"],
    ["opengles", "wall-clock"],
  ] as const) {
    it(`profiles ir-CSN-50 on ${backend} (${method} kernel timing)`, async () => {
      const args = [
        "profile",
        path.join(models, "ir-csn-50.csn"),
        "--set",
        "width=8",
        "--input",
        "3x4x32x32",
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--backend",
        backend,
      ];
      const json = JSON.parse((await run(...args, "--json")).out);
      expect(json).toMatchObject({
        model: "ir_csn_50",
        backend,
        kernelTiming: method,
        dispatches: 57,
      });
      expect(json.kernels).toHaveLength(57);
      expect(json.latency.medianMs).toBeGreaterThan(0);
      expect(json.latency.iterations).toBe(2);
      expect(json.kernels[0]).toMatchObject({
        path: "stem.conv",
        layers: ["stem.conv", "stem.bn", "stem.relu"],
        kernel: expect.stringMatching(/^conv-direct/),
      });
      for (const k of json.kernels) expect(k.ms).toBeGreaterThanOrEqual(0);
      expect(json.kernels.reduce((a: number, k: { share: number }) => a + k.share, 0)).toBeCloseTo(
        1,
        5,
      );
      expect(json.memory.activationBytes).toBeGreaterThan(0);
      expect(json.setup.pipelinesMs).toBeGreaterThan(0);
      const text = await run(...args);
      expect(text.code).toBe(0);
      expect(text.out).toMatch(/^latency: median [\d.]+ ms/m);
      expect(text.out).toMatch(/^layer\s+kernel\s+ms\s+share\s+GFLOP\/s\s+bytes\s+GB\/s$/m);
      if (method === "wall-clock") expect(text.out).toContain("WALL-CLOCK FALLBACK");
    });
  }
});
