// Hostile runtime inputs (issue 11): a zip64 field that claims more than its extra field, a
// safetensors header nested thousands deep, devices, pipes and folders given as files, an empty
// batch. Each ends in a clear error naming the file and problem: exit 1 or 2, no internal error
// or stack trace, output under 100 KB, peak RSS under 1.5 GB, no hang.
import { cpSync, mkdirSync, mkdtempSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { Budget } from "../runtime/checkpoint.js";
import { labelsFrom } from "../cli/labels.js";
import { maxReadBytes, readFile } from "../cli/read-file.js";
import { shapeDims } from "../cli/options.js";
import { preview, readSafetensors, writeSafetensors } from "../runtime/safetensors.js";
import { csncRunner, refusal } from "./csnc-process.js";
import { pickle, safetensors, tensor, zeroDeflate, zip } from "./hostile-weights-files.js";

const root = path.resolve(import.meta.dirname, "..");
const work = mkdtempSync(path.join(tmpdir(), "csnc-hostile-runtime-"));
const MiB = 2 ** 20;

const csnc = csncRunner(30_000);

function expectRefused(r: ReturnType<typeof csnc>, message: RegExp | string) {
  expect(r.code, r.output).not.toBeNull(); // null: killed by the timeout
  expect([1, 2], r.output).toContain(r.code);
  expect(r.output).not.toMatch(/internal error/);
  expect(r.output).not.toMatch(/\n\s+at /);
  expect(r.output.length).toBeLessThan(100_000);
  expect(r.rssBytes).toBeLessThan(1.5e9);
  expect(r.seconds).toBeLessThan(30);
  expect(r.output).toMatch(message);
}

const write = (name: string, bytes: Uint8Array) => {
  const file = path.join(work, name);
  writeFileSync(file, bytes);
  return file;
};

const csn = "models/ir-csn-50.csn";
const small = ["--set", "width=8", "--set", "classes=10"];
const run = (...args: string[]) => csnc("run", csn, ...small, "--backend", "opengles", ...args);
const importFile = (file: string) =>
  csnc("import", file, "--model", csn, ...small, "-o", path.join(work, "o.safetensors"));

/**
 * 102 bytes: one central directory entry whose size, compressed size and header offset are all
 * 0xffffffff, an extra field of 4 bytes holding zip64 field {id 1, length 24}, and the end record.
 * The 24 bytes the field claims are not there.
 */
function shortZip64(): Uint8Array {
  const name = new TextEncoder().encode(`${"a".repeat(21)}/data.pkl`);
  const b = new Uint8Array(46 + name.length + 4 + 22);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x02014b50, true);
  v.setUint32(20, 0xffffffff, true);
  v.setUint32(24, 0xffffffff, true);
  v.setUint16(28, name.length, true);
  v.setUint16(30, 4, true);
  v.setUint32(42, 0xffffffff, true);
  b.set(name, 46);
  v.setUint16(46 + name.length, 1, true);
  v.setUint16(48 + name.length, 24, true);
  const end = 46 + name.length + 4;
  v.setUint32(end, 0x06054b50, true);
  v.setUint16(end + 8, 1, true);
  v.setUint16(end + 10, 1, true);
  v.setUint32(end + 12, end, true);
  return b;
}

const deep = (n: number) => `${"[".repeat(n)}0${"]".repeat(n)}`;

describe("hostile runtime inputs through the CLI", () => {
  const zip64 = write("short-zip64.pth", shortZip64());
  const zip64Message =
    /short-zip64\.pth: a damaged zip archive \(entry 'a{21}\/data\.pkl' has a zip64 field of 24 bytes, but only 0 of its extra field follow\)/;

  it("the 102-byte zip whose zip64 field runs past its extra field: import and run refuse it", () => {
    expect(statSync(zip64).size).toBe(102);
    expectRefused(importFile(zip64), zip64Message);
    expectRefused(run("--weights", zip64), zip64Message);
  });

  it("a safetensors header nested 5000 deep (10 KB): run --weights and import refuse it", () => {
    const file = write("deep.safetensors", safetensors(`{"a":${deep(5000)}}`));
    expect(statSync(file).size).toBeLessThan(11_000);
    const message =
      /deep\.safetensors: not a valid safetensors file: tensor 'a' has no description \(\[{80}\.\.\.\)/;
    expectRefused(run("--weights", file), message);
    expectRefused(importFile(file), message);
  });

  it("--input /dev/zero is refused before it is read", () => {
    expectRefused(
      run("--input", "/dev/zero"),
      "cannot read input /dev/zero: it is not a regular file (a device, pipe or socket)",
    );
  });

  it("--weights /dev/zero is refused by run, export and import", () => {
    const message =
      "cannot read weights /dev/zero: it is not a regular file (a device, pipe or socket)";
    expectRefused(run("--weights", "/dev/zero"), message);
    expectRefused(
      csnc("export", csn, ...small, "--weights", "/dev/zero", "--onnx", path.join(work, "x.onnx")),
      message,
    );
    expectRefused(
      importFile("/dev/zero"),
      "cannot read checkpoint /dev/zero: it is not a regular file (a device, pipe or socket)",
    );
  });

  it("--weights naming a pipe without a writer ends at once", () => {
    const fifo = path.join(work, "weights.fifo");
    const made = spawnSync("mkfifo", [fifo]);
    expect(made.status, String(made.stderr)).toBe(0);
    expectRefused(
      run("--weights", fifo),
      `cannot read weights ${fifo}: it is not a regular file (a device, pipe or socket)`,
    );
    expectRefused(
      csnc("profile", csn, ...small, "--weights", fifo, "--backend", "opengles"),
      `cannot read weights ${fifo}: it is not a regular file`,
    );
  });

  it("--weights naming a folder, a missing file or a broken link says which", () => {
    const folder = path.join(work, "a-folder");
    mkdirSync(folder, { recursive: true });
    expectRefused(run("--weights", folder), `cannot read weights ${folder}: it is a folder`);
    const missing = path.join(work, "missing.pth");
    expectRefused(run("--weights", missing), `cannot read weights ${missing}: no such file`);
    const link = path.join(work, "broken.pth");
    symlinkSync(missing, link);
    expectRefused(
      run("--weights", link),
      `cannot read weights ${link}: it is a broken symbolic link`,
    );
    expectRefused(
      run("--labels", folder, "--shape", "1x3x8x32x32"),
      `cannot read labels ${folder}: it is a folder`,
    );
  });

  it("a truthful zip directory and pickle over 600 MiB of deflated zeros (600 KB) is refused", () => {
    const numel = (600 * MiB) / 4;
    const file = write(
      "zeros-600m.pth",
      zip([
        {
          name: "archive/data.pkl",
          data: pickle({ dict: [["conv1.weight", tensor("0", numel, [numel], [1])]] }),
        },
        { name: "archive/data/0", data: zeroDeflate(600 * MiB), method: 8, size: 600 * MiB },
      ]),
    );
    expect(statSync(file).size).toBeLessThan(MiB);
    expectRefused(
      importFile(file),
      /zeros-600m\.pth: refused: inflating zip entry 'archive\/data\/0' would take the unpacked tensors past 512 MiB/,
    );
  });

  it("a clip holding a NaN is refused where it is; one that overflows the logits is an error", () => {
    const shape = [1, 3, 8, 32, 32];
    const data = new Float32Array(3 * 8 * 32 * 32).fill(0.5);
    data[3 * 32 * 32 + 5] = NaN; // channel 0, frame 3, row 0, column 5
    const nan = write(
      "nan-clip.safetensors",
      writeSafetensors(new Map([["input", { shape, data }]])),
    );
    expectRefused(
      run("--input", nan),
      `${nan}: 'input' holds NaN at [0, 0, 3, 0, 5]; a clip's values must be finite`,
    );
    // ir-CSN-mini's logits overflow at 3e38 (ir-CSN-50's, with random weights, stay finite).
    const huge = new Float32Array(data.length).fill(3e38);
    const big = write(
      "big-clip.safetensors",
      writeSafetensors(new Map([["input", { shape, data: huge }]])),
    );
    expectRefused(
      csnc("run", "models/ir-csn-mini.csn", "--backend", "opengles", "--input", big),
      /the logits are not finite: the activations overflowed float32's range \(the values of .*big-clip/,
    );
  });

  it("a clip of N = 0 is blamed on the clip's shape, not on --batch (run has none)", () => {
    const header = JSON.stringify({
      input: { dtype: "F32", shape: [0, 3, 8, 32, 32], data_offsets: [0, 0] },
    });
    const clip = write("empty-clip.safetensors", safetensors(header));
    const r = run("--input", clip);
    expectRefused(
      r,
      `${clip}: tensor 'input' has shape 0x3x8x32x32; its N (the batch) is 0, not from 1 to 4096`,
    );
    expect(r.output).not.toMatch(/--batch/);
  });
});

describe("the readers' own bounds", () => {
  it("preview renders any JSON value in bounded steps, without recursion", () => {
    expect(preview(JSON.parse(deep(1_000_000)))).toBe(`${"[".repeat(80)}...`);
    expect(preview({ a: [1, 2, { b: "x" }], c: null, d: true })).toBe(
      '{"a":[1,2,{"b":"x"}],"c":null,"d":true}',
    );
    expect(preview([0, -8])).toBe("[0,-8]");
    expect(preview(undefined)).toBe("undefined");
    const wide = Array.from({ length: 1_000_000 }, () => 0);
    expect(preview([wide, wide])).toBe(`[[${"0,".repeat(39)}...`);
    const shape = safetensors(`{"a":{"dtype":"F32","shape":${deep(5000)},"data_offsets":[0,0]}}`);
    expect(refusal(() => readSafetensors(shape, "s.safetensors"))).toMatch(
      /tensor 'a' has an invalid shape \[{80}\.\.\.: \[{80}\.\.\. is not a non-negative integer/,
    );
    const name = safetensors(JSON.stringify({ [`x\u001b[2J${"y".repeat(10_000)}`]: 5 }));
    const message = refusal(() => readSafetensors(name, "n.safetensors"));
    expect(message).toMatch(/tensor 'x\\u001b\[2Jy{75}\.\.\.' has no description \(5\)/);
  });

  it("readFile reads regular files whole, to their end, within its cap", () => {
    const data = Uint8Array.from({ length: 200 }, (_, i) => i);
    const file = write("bytes.bin", data);
    expect(readFile(file, "weights")).toEqual(data);
    expect(readFile(write("empty.bin", new Uint8Array(0)), "weights").length).toBe(0);
    expect(refusal(() => readFile(file, "weights", 100))).toBe(
      `cannot read weights ${file}: it holds 200 bytes; csnc reads weights files of up to 100 bytes`,
    );
    // procfs states a size of 0 for files that have content.
    expect(new TextDecoder().decode(readFile("/proc/self/status", "input"))).toMatch(/^Name:/);
    expect(maxReadBytes).toBeGreaterThanOrEqual(2 ** 31);
  });

  it("shapeDims checks each dimension of a clip against its range", () => {
    expect(shapeDims([2, 3, 8, 32, 32], "c: tensor 'input'")).toEqual({
      input: "3x8x32x32",
      batch: "2",
    });
    expect(refusal(() => shapeDims([1, 3, 0, 32, 32], "c: tensor 'input'"))).toBe(
      "c: tensor 'input' has shape 1x3x0x32x32; its T is 0, not from 1 to 65536",
    );
    expect(refusal(() => shapeDims([4096, 3, 64, 1024, 1024], "c"))).toMatch(
      /c has shape 4096x3x64x1024x1024; it holds \d+ elements; the limit is 1073741824/,
    );
  });

  it("kinetics400 labels are found from the sources, from dist, and from an install under a folder named dist", async () => {
    expect(labelsFrom("kinetics400")).toHaveLength(400);
    const fromDist = (await import(path.join(root, "dist/cli/labels.js"))) as {
      labelsFrom: typeof labelsFrom;
    };
    expect(fromDist.labelsFrom("kinetics400")).toHaveLength(400);
    // An install whose path holds /dist/ above the package: /dist/ replaced once broke this.
    const pkg = path.join(work, "dist", "node_modules", "csnc");
    cpSync(path.join(root, "dist"), path.join(pkg, "dist"), { recursive: true });
    cpSync(path.join(root, "runtime/labels"), path.join(pkg, "runtime/labels"), {
      recursive: true,
    });
    cpSync(path.join(root, "package.json"), path.join(pkg, "package.json"));
    symlinkSync(path.join(root, "node_modules"), path.join(pkg, "node_modules"));
    const installed = (await import(path.join(pkg, "dist/cli/labels.js"))) as {
      labelsFrom: typeof labelsFrom;
    };
    const names = installed.labelsFrom("kinetics400");
    expect(names).toHaveLength(400);
    expect(names).toEqual(labelsFrom("kinetics400"));
  });

  it("the unpack budget lets honest deflated float16 storages through and refuses bombs", () => {
    // 400 MiB of float16 deflated 1.5 to 1: 600 MiB inflated plus 1200 MiB of float32.
    const honest = new Budget("h.pth", 400 * MiB);
    honest.earn(600 * MiB, 400 * MiB);
    honest.take(600 * MiB, "inflating");
    honest.take(1200 * MiB, "tensor");
    // 1 GiB of zeros from 1 MiB: only 4 to 1 counts, so the 512 MiB floor is the limit.
    const bomb = new Budget("b.pth", MiB);
    bomb.earn(1024 * MiB, MiB);
    expect(refusal(() => bomb.take(1024 * MiB, "inflating zip entry 'x'"))).toMatch(
      /b.pth: refused: inflating zip entry 'x' would take the unpacked tensors past 512 MiB, more than a checkpoint of 1 MiB can honestly hold/,
    );
    // Directory entries sharing one stored storage earn no more than the file's bytes can.
    const shared = new Budget("s.pth", 100 * MiB);
    for (let i = 0; i < 1000; i++) shared.earn(100 * MiB);
    shared.take(1200 * MiB, "tensors");
    expect(refusal(() => shared.take(1, "tensor 'y'"))).toMatch(/past 1200 MiB/);
  });
});
