// `csnc weights random`: the random weights `csnc run` makes, in a file `run --weights` reads
// with no further flags; clear errors for an unwritable -o and absurd sizes.
import { mkdirSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensors } from "../runtime/safetensors.js";
import { run } from "./helpers.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-weights-"));
const model = path.resolve(import.meta.dirname, "../models/ir-csn-50.csn");
const small = ["--set", "width=8", "--set", "classes=10"];

describe("csnc weights random", () => {
  it("writes csnc-named He-normal weights that csnc run --weights runs as its own random ones", async () => {
    const file = path.join(work, "w.safetensors");
    let r = await run("weights", "random", model, ...small, "--seed", "3", "-o", file, "--json");
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ model: "ir_csn_50", seed: 3, output: file });
    const { tensors, metadata } = readSafetensors(readFileSync(file), file);
    expect(tensors.get("stem.conv.weight")?.shape).toEqual([8, 3, 3, 7, 7]);
    expect(tensors.get("head.fc.weight")?.shape).toEqual([10, 256]);
    expect(tensors.size).toBe(report.tensors);
    expect(metadata).toMatchObject({ csnc_naming: "csnc", init: "he-normal", seed: "3" });
    expect(JSON.parse(metadata.model_parameters!).width).toEqual({ type: "int", value: 8 });

    const shape = ["--shape", "1x3x8x32x32", "--backend", "opengles", "--seed", "3"];
    const fromFile = path.join(work, "from-file.safetensors");
    const invented = path.join(work, "invented.safetensors");
    // No --set: the file's metadata restores width and classes.
    r = await run("run", model, "--weights", file, ...shape, "--output", fromFile);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    r = await run("run", model, ...small, ...shape, "--output", invented);
    expect(r.code).toBe(0);
    const logits = (f: string) => readSafetensors(readFileSync(f), f).tensors.get("logits")!;
    expect(logits(fromFile).shape).toEqual([1, 10]);
    expect([...logits(fromFile).data!]).toEqual([...logits(invented).data!]);
  });

  it("refuses an unwritable -o, a folder as -o and no -o, before any work", async () => {
    const folder = path.join(work, "a-folder");
    mkdirSync(folder);
    for (const [output, message] of [
      [path.join(work, "no/such/dir/w.safetensors"), /cannot write .*: folder .* does not exist/],
      [folder, /cannot write .*a-folder: it is a folder/],
    ] as const) {
      const r = await run("weights", "random", model, "-o", output);
      expect(r.code, output).toBe(1);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/\n\s+at |internal error/);
    }
    let r = await run("weights", "random", model);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/weights random needs -o WEIGHTS\.safetensors/);
    r = await run(
      "weights",
      "random",
      model,
      "--seed",
      "-1",
      "-o",
      path.join(work, "x.safetensors"),
    );
    expect(r.code).toBe(2);
  });

  it("refuses absurd sizes with the count", async () => {
    const r = await run(
      "weights",
      "random",
      model,
      "--set",
      "width=512", // every tensor under the checker's 2^31 elements, the whole 2.9 GiB
      "-o",
      path.join(work, "huge.safetensors"),
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /ir_csn_50 has [\d,]+ weight values \([\d.]+ GiB as float32\); csnc weights random writes at most 1 GiB/,
    );
    expect(r.err).not.toMatch(/\n\s+at /);
  });
});
