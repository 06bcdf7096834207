// The CLI against hostile arguments: unwritable outputs, numbers out of range, models too large
// to hold. Each must end in a clear error (exit 1 bad input, 2 usage), fast, without a stack.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { human } from "../cli/format.js";
import { plainReason } from "../cli/io.js";
import { compileGraph } from "../compiler/compile.js";
import { checkFile } from "../compiler/index.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { nodeHost } from "../compiler/node-host.js";
import { randomTensors } from "../runtime/weights.js";
import { sourceEntry, spawnCsnc } from "./csnc-process.js";
import { fixturesDir } from "./fixtures.js";
import { run } from "./helpers.js";

const root = path.resolve(import.meta.dirname, "..");
const model = (name: string) => path.join(root, "models", name);
const small = [model("ir-csn-26.csn"), "--set", "width=4", "--input", "3x4x32x32"];
/** A small ir-CSN-26 on a random clip on SwiftShader. */
const smallRun = [
  "run",
  model("ir-csn-26.csn"),
  "--set",
  "width=4",
  "--shape",
  "1x3x4x32x32",
  "--backend",
  "swiftshader",
];
const work = mkdtempSync(path.join(tmpdir(), "csnc-hostile-"));
const aFile = path.join(work, "a-file");
writeFileSync(aFile, "x");
const fixtureWeights = path.join(fixturesDir, "models/ir-csn-50-w8/weights.safetensors");

// fc(100000) straight on a 3x32x224x224 input: a 100000 x 1.3 G weight (4.7 TiB).
const fcModel = path.join(work, "fc.csn");
writeFileSync(
  fcModel,
  "model big_fc(classes: int = 100000) {\n  input 3 x 32 x 224 x 224\n  conv(8, 1x1x1)\n  fc(classes)\n}\n",
);

/** The CLI as a child process, for cases that used to hang (a hang must fail, not stall vitest). */
const spawnCli = (args: string[]) => spawnCsnc(sourceEntry, args, { timeoutMs: 45_000 });

function expectClean(r: { code: number | null; err: string; out?: string }, code: number) {
  expect(r.code).toBe(code);
  expect(r.err).toMatch(/^csnc: error: /m);
  expect(r.err).not.toContain("internal error");
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err.length + (r.out?.length ?? 0)).toBeLessThan(100_000);
}

describe("unwritable outputs", () => {
  it("compile -o under a regular file, onto /dev/full, through a dangling link or a link loop", async () => {
    let r = await run("compile", ...small, "-o", path.join(aFile, "x"));
    expectClean(r, 1);
    expect(r.err).toContain(`cannot write ${path.join(aFile, "x")}: ${aFile} is not a folder`);
    r = await run("compile", ...small, "-o", "/dev/full");
    expectClean(r, 1);
    expect(r.err).toContain("cannot write /dev/full: it exists and is not a folder");
    r = await run("compile", ...small, "--emit", "module", "-o", path.join(aFile, "m"));
    expectClean(r, 1);
    expect(r.err).toContain("is not a folder");
    const dangling = path.join(work, "dangling");
    symlinkSync(path.join(work, "nowhere"), dangling);
    r = await run("compile", ...small, "-o", path.join(dangling, "out"));
    expectClean(r, 1);
    expect(r.err).toContain(`${dangling} is a broken symbolic link`);
    const [l1, l2] = [path.join(work, "loop1"), path.join(work, "loop2")];
    symlinkSync(l2, l1);
    symlinkSync(l1, l2);
    r = await run("compile", ...small, "-o", path.join(l1, "out"));
    expectClean(r, 1);
    expect(r.err).toContain(`${l1} is a loop of symbolic links`);
  });

  it("sysfs refuses, and every refusal has words (permission, read-only, full disk...)", async () => {
    const r = await run("compile", ...small, "-o", "/sys/csnc-no-such");
    expectClean(r, 1);
    expect(r.err).toMatch(
      /cannot write \/sys\/csnc-no-such: (operation not permitted|permission denied|read-only file system|\/sys does not accept new files)/,
    );
    expect(plainReason("EACCES")).toBe("permission denied");
    expect(plainReason("EPERM")).toBe("operation not permitted");
    expect(plainReason("EROFS")).toBe("read-only file system");
    expect(plainReason("ENOSPC")).toBe("no space left on the device");
    expect(plainReason("EDQUOT")).toBe("disk quota exceeded");
  });

  it("compile -o /proc/x fails at once (Node's recursive mkdir spins there forever)", () => {
    const start = performance.now();
    const r = spawnCli(["compile", ...small, "-o", "/proc/csnc-no-such/out"]);
    expect(r.signal).toBeNull();
    expectClean(r, 1);
    expect(r.err).toContain("cannot write /proc/csnc-no-such/out: /proc does not accept new files");
    expect(performance.now() - start).toBeLessThan(40_000);
  });

  it("export --onnx: a folder, /dev/full, /proc, a missing folder, a pipe without a reader", async () => {
    let r = await run("export", ...small, "--onnx", work);
    expectClean(r, 1);
    expect(r.err).toContain(`cannot write ${work}: it is a folder`);
    r = await run("export", ...small, "--onnx", "/dev/full");
    expectClean(r, 1);
    expect(r.err).toContain("cannot write /dev/full: no space left on the device");
    r = await run("export", ...small, "--onnx", "/proc/csnc.onnx");
    expectClean(r, 1);
    expect(r.err).toContain("cannot write /proc/csnc.onnx: /proc does not accept new files");
    const missing = path.join(work, "missing", "x.onnx");
    r = await run("export", ...small, "--onnx", missing);
    expectClean(r, 1);
    expect(r.err).toContain(`folder ${path.dirname(missing)} does not exist`);
    const fifo = path.join(work, "fifo");
    execFileSync("mkfifo", [fifo]);
    r = await run("export", ...small, "--onnx", fifo);
    expectClean(r, 1);
    expect(r.err).toContain(`cannot write ${fifo}: nobody reads it`);
    r = await run("export", ...small, "--onnx", path.join(work, "x".repeat(300) + ".onnx"));
    expectClean(r, 1);
    expect(r.err).toContain("the name is too long");
  });

  it("import -o, run --output and classify --dump-clips, before any work", async () => {
    const importArgs = [
      "import",
      fixtureWeights,
      "--model",
      model("ir-csn-50.csn"),
      "--set",
      "width=8",
      "--set",
      "classes=10",
    ];
    let r = await run(...importArgs, "-o", "/dev/full");
    expectClean(r, 1);
    expect(r.err).toContain("cannot write /dev/full: no space left on the device");
    r = await run(...importArgs, "-o", work);
    expectClean(r, 1);
    expect(r.err).toContain("it is a folder");
    r = await run("run", model("ir-csn-26.csn"), "--output", path.join(aFile, "y.safetensors"));
    expectClean(r, 1);
    expect(r.err).toContain(`${aFile} is not a folder`);
    r = await run(
      "classify",
      "no-video.mp4",
      "--model",
      model("ir-csn-26.csn"),
      "--dump-clips",
      work,
    );
    expectClean(r, 1);
    expect(r.err).toContain(`cannot write ${work}: it is a folder`);
  });

  it("an output that is one of the command's inputs, by name or through a link, is refused", async () => {
    const source = path.join(work, "own.csn");
    const text = "model own() { input 8x2x4x4  conv(8, 1x1x1) relu avgpool fc(3) }\n";
    writeFileSync(source, text);
    const link = path.join(work, "own-link.csn");
    symlinkSync(source, link);
    for (const args of [
      ["run", source, "--output", source],
      ["run", source, "--output", link],
      ["weights", "random", source, "-o", source],
      ["tune", source, "--budget", "1", "-o", link],
      ["export", source, "--onnx", source],
    ]) {
      const r = await run(...args);
      expectClean(r, 2);
      expect(r.err).toContain("is also an input of this command; write it elsewhere");
    }
    const trained = await run(
      "train",
      source,
      "--data",
      path.join(work, "no-data.safetensors"),
      "--steps",
      "1",
      "--batch",
      "1",
      "--lr",
      "0.1",
      "-o",
      link,
    );
    expectClean(trained, 2);
    expect(trained.err).toContain("is also an input");
    // Only files that exist clash: a missing model is its reader's error, and `none` no file.
    const missing = path.join(work, "missing.csn");
    const unread = await run("weights", "random", missing, "-o", missing);
    expect(unread.code).toBe(1);
    expect(unread.err).toContain(`cannot read ${missing}: no such file`);
    const none = path.join(work, "none");
    const tuned = await run(
      "run",
      source,
      "--tuning",
      "none",
      "--output",
      none,
      "--backend",
      "opengles",
    );
    expect(tuned.code, tuned.err).toBe(0);
    // tune -o merges into a tuning file; any other file is left alone.
    const r = await run("tune", source, "--budget", "1", "--backend", "opengles", "-o", aFile);
    expectClean(r, 1);
    expect(r.err).toMatch(
      /a-file: not a csnc tuning file.*-o would replace it, so it is left as it is/,
    );
    expect(readFileSync(source, "utf8")).toBe(text);
    expect(readFileSync(aFile, "utf8")).toBe("x");
    const empty = path.join(work, "empty-tuning.json"); // as mktemp leaves one
    writeFileSync(empty, "");
    const replaced = await run(
      "tune",
      source,
      "--budget",
      "1",
      "--backend",
      "opengles",
      "--no-cache",
      "-o",
      empty,
    );
    expect(replaced.code, replaced.err).toBe(0);
    expect(JSON.parse(readFileSync(empty, "utf8")).format).toBe("csnc-tuning");
  });

  it("run --output /dev/full after the inference", async () => {
    const r = await run(...smallRun, "--output", "/dev/full");
    expectClean(r, 1);
    expect(r.err).toContain("cannot write /dev/full: no space left on the device");
  });

  it("a full standard output is an error, not a crash", () => {
    const r = spawnSync(
      "sh",
      ["-c", "exec node --import tsx cli/bin.ts stats models/ir-csn-26.csn >/dev/full"],
      { cwd: root, timeout: 45_000, encoding: "utf8" },
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      "csnc: error: cannot write standard output: no space left on the device\n",
    );
  });
});

describe("option ranges", () => {
  const classify = ["classify", "v.mp4", "--model", model("ir-csn-26.csn")];
  const cases: [string[], string][] = [
    [
      ["profile", ...small, "--iterations", "100000000"],
      "--iterations must be an integer from 1 to 10000, got '100000000'",
    ],
    [
      ["profile", ...small, "--iterations", "0"],
      "--iterations must be an integer from 1 to 10000, got '0'",
    ],
    [
      ["profile", ...small, "--warmup", "1e9"],
      "--warmup must be an integer from 0 to 1000, got '1e9'",
    ],
    [
      ["run", ...small.slice(0, 3), "--seed", "abc"],
      "--seed must be an integer from 0 to 4294967295, got 'abc'",
    ],
    [
      ["export", ...small, "--onnx", "x.onnx", "--seed", "-1"],
      "--seed must be an integer from 0 to 4294967295, got '-1'",
    ],
    [
      ["profile", ...small, "--seed", "4294967296"],
      "--seed must be an integer from 0 to 4294967295, got '4294967296'",
    ],
    [
      ["stats", model("ir-csn-26.csn"), "--batch", "0"],
      "--batch must be an integer from 1 to 4096, got '0'",
    ],
    [
      ["compile", model("ir-csn-26.csn"), "-o", work, "--batch", "5000"],
      "--batch must be an integer from 1 to 4096, got '5000'",
    ],
    [
      ["stats", model("ir-csn-26.csn"), "--input", "3x100000x100000x100000"],
      "every --input dimension must be an integer from 1 to 65536, got '100000'",
    ],
    [
      ["check", model("ir-csn-26.csn"), "--input", "3x65536x65536x65536"],
      "--input 3x65536x65536x65536 would hold 8.44e+14 elements; the limit is 1073741824",
    ],
    [
      ["stats", model("ir-csn-26.csn"), "--input", "3x8x112x112", "--batch", "4096"],
      "--input 3x8x112x112 with --batch 4096 would hold 1.23e+9 elements",
    ],
    [
      ["run", model("ir-csn-26.csn"), "--shape", "1x3x8"],
      "--shape expects N x C x T x H x W such as 1x3x16x112x112, got '1x3x8'",
    ],
    [
      ["run", model("ir-csn-26.csn"), "--shape", "1x3x100000x8x8"],
      "every --shape dimension must be an integer from 1 to 65536, got '100000'",
    ],
    [[...classify, "--frames", "0"], "--frames must be an integer from 1 to 1024, got '0'"],
    [[...classify, "--rate", "abc"], "--rate must be an integer from 1 to 100, got 'abc'"],
    [[...classify, "--size", "0"], "--size must be an integer from 1 to 8192, got '0'"],
    [[...classify, "--crop", "9000"], "--crop must be an integer from 1 to 8192, got '9000'"],
    [[...classify, "--clips", "101"], "--clips must be an integer from 1 to 100, got '101'"],
    [[...classify, "--memory", "0"], "--memory must be an integer from 1 to 1048576, got '0'"],
    [
      [
        ...classify,
        "--clips",
        "100",
        "--crops",
        "3",
        "--frames",
        "1024",
        "--size",
        "256",
        "--crop",
        "256",
      ],
      "--clips 100 x --crops 3 views of --frames 1024 at --crop 256 would hold",
    ],
  ];
  for (const [args, message] of cases)
    it(`${args[0]} ${args.slice(-2).join(" ")}`, async () => {
      const start = performance.now();
      const r = await run(...args);
      expectClean(r, 2);
      expect(r.err).toContain(`csnc: error: ${message}`);
      expect(performance.now() - start).toBeLessThan(5000);
    });

  it("a clips count between 1 and 10 is accepted, and help texts give the ranges", async () => {
    const help = (await run("profile", "--help")).out;
    expect(help).toContain("timed inferences (1 to 10000)");
    expect(help).toContain("untimed inferences first (0 to 1000)");
    expect((await run("run", "--help")).out).toContain("(0 to 4294967295)");
    const classify = (await run("classify", "--help")).out;
    expect(classify).toMatch(/--clips <K>\s+clips per video.*\(1 to 100\)/s);
    expect((await run("stats", "--help")).out).toContain("batch size N (1 to 4096");
  });
});

describe("models too large to hold", () => {
  it("export refuses an ONNX file past protobuf's 2 GiB before making any weight", async () => {
    const before = process.memoryUsage().rss;
    const start = performance.now();
    const r = await run(
      "export",
      model("ir-csn-26.csn"),
      "--set",
      "width=1536",
      "--onnx",
      path.join(work, "big.onnx"),
    );
    expectClean(r, 1);
    expect(r.err).toMatch(
      /the ONNX file would be 3\.\d\d GiB \(3\.\d\d GiB of weights, the largest res5\.\S+ of shape \S+: \d+\.\d\d MiB\); protobuf's limit is 2 GiB \[CSN4105\]/,
    );
    expect(performance.now() - start).toBeLessThan(10_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(512 * 2 ** 20);
  });

  it("fc(100000) on a 3x32x224x224 input: refused by export, compile, run and random weights", async () => {
    // 1.3e12 weights: past the checker's 2^31 elements per tensor, so every command stops at
    // the layer, before any plan or allocation.
    for (const args of [
      ["export", fcModel, "--onnx", path.join(work, "fc.onnx")],
      ["compile", fcModel, "-o", path.join(work, "fc")],
      ["run", fcModel, "--backend", "swiftshader"],
      ["weights", "random", fcModel, "-o", path.join(work, "fc.safetensors")],
    ]) {
      const r = await run(...args);
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/fc\.csn:4:3: error: the weights of fc have 1\.3e12 elements; .*2\^31/);
      expect(r.err).not.toMatch(/internal error|\n\s+at /);
    }
    // Under the checker's limit, random weights still refuse a tensor over 4 GiB by name.
    const fc6g = path.join(work, "fc6g.csn");
    writeFileSync(fc6g, "model f() {\n  input 3 x 8 x 56 x 56\n  fc(20000)\n}\n");
    const plan = compileGraph(checkFile(fc6g, work, nodeHost, {}).graphs[0]!, unlimitedLimits);
    expect(() => randomTensors(plan)).toThrow(
      "layer fc: random tensor fc.weight of shape 20000x75264 would take 5.61 GiB; csnc makes up at most 4.00 GiB per tensor",
    );
    const r = await run("export", fc6g, "--onnx", path.join(work, "fc6g.onnx"));
    expectClean(r, 1);
    expect(r.err).toContain("the largest fc.weight of shape 20000x75264: 5.61 GiB");
  });

  it("huge counts scale their unit instead of widening the column", async () => {
    expect(human(1.28e12)).toBe("1.28 T");
    expect(human(3.5e16)).toBe("35.00 P");
    expect(human(2e19)).toBe("20.00 E");
    expect(human(4.2e23)).toBe("4.20e+23");
    // 2^50 multiply-adds from a 2^20-weight conv over a padded 1x1x1 input, batch 1024.
    const huge = path.join(work, "huge.csn");
    writeFileSync(
      huge,
      "model m() {\n  input 1 x 1 x 1 x 1\n  conv(1, 1x1024x1024, pad = 0x1023x1023)\n}\n",
    );
    const r = await run("stats", huge, "--by", "layer", "--batch", "1024");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^conv\s+conv\s+.*1024x1x1x1024x1024\s+1\.05 M\s+1\.13 P\s+\S*huge\.csn:3:3$/m,
    );
  });
});

describe("run names Kinetics classes", () => {
  const kinetics = readFileSync(path.join(root, "runtime/labels/kinetics400.txt"), "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);

  it("prints the label of each top class of a 400-class model, in text and JSON", async () => {
    const text = await run(...smallRun);
    expect(text.code).toBe(0);
    const line = /^sample 0: (\d+) (.+?) \(0\.\d{4}\)/m.exec(text.out);
    expect(line).not.toBeNull();
    expect(line![2]!.startsWith(kinetics[Number(line![1])]!)).toBe(true);
    const json = JSON.parse((await run(...smallRun, "--json")).out);
    expect(json.labels).toBe("kinetics400");
    for (const t of json.top[0]) expect(t.label).toBe(kinetics[t.class]);
    const none = JSON.parse((await run(...smallRun, "--json", "--labels", "none")).out);
    expect(none.labels).toBeNull();
    expect(none.top[0][0].label).toBeUndefined();
  });
});

describe("documented behaviour", () => {
  it("export --naming auto (the default) recognises VMZ names, as run does", async () => {
    const out = path.join(work, "auto.onnx");
    for (const naming of [[], ["--naming", "auto"]]) {
      const r = await run(
        "export",
        model("ir-csn-50.csn"),
        "--set",
        "width=8",
        "--set",
        "classes=10",
        "--weights",
        fixtureWeights,
        ...naming,
        "--onnx",
        out,
        "--json",
      );
      expect(r.err).toBe("");
      expect(r.code).toBe(0);
      expect(JSON.parse(r.out).naming).toBe("vmz");
    }
  });

  it("help says which weights files work and what --input and --model mean where", async () => {
    for (const cmd of ["run", "profile", "export", "classify"])
      expect((await run(cmd, "--help")).out).toMatch(
        /safetensors or a PyTorch\s+checkpoint\s+\(\.pth\/\.pyth\)/,
      );
    expect((await run("run", "--help")).out).toMatch(/a file\s+here/);
    expect((await run("import", "--help")).out).toMatch(/\.csn model file/);
    expect((await run("stats", "--help")).out).toMatch(/a\s+model's name, not a file/);
  });

  it("ir-CSN-152 has 515 layers, as the README says", async () => {
    const json = JSON.parse((await run("stats", model("ir-csn-152.csn"), "--json")).out);
    expect(json.totals.layers).toBe(515);
    const readme = readFileSync(path.join(root, "README.md"), "utf8");
    expect(readme).toContain("159 dispatches instead of 515 layers");
    expect(readme).not.toContain("514");
  });

  it("compile labels MACs and GFLOP (2 x MACs); stats --by layer names the file", async () => {
    const dir = path.join(work, "compiled");
    mkdirSync(dir);
    const r = await run("compile", model("ir-csn-152.csn"), "-o", dir);
    expect(r.code).toBe(0);
    expect(r.out).toContain("per inference 74.05 G MACs (multiply-adds, as stats counts), 148.");
    expect(r.out).toContain("GFLOP (2 x MACs, plus pooling and elementwise ops)");
    const json = JSON.parse(
      (await run("compile", model("ir-csn-152.csn"), "-o", dir, "--json")).out,
    );
    expect(json.macs).toBe(74046244864);
    const byLayer = await run("stats", model("ir-csn-50.csn"), "--by", "layer", "--set", "width=8");
    expect(byLayer.out).toMatch(/^stem\.conv\s.*\s\S+\.csn:\d+:\d+$/m);
  });

  it("run suggests its own way to shrink a model too large for the device", async () => {
    const r = await run(
      "run",
      model("ir-csn-26.csn"),
      "--shape",
      "1x3x32x1024x1024",
      "--backend",
      "swiftshader",
    );
    expectClean(r, 1);
    expect(r.err).toContain("use a smaller --shape or --input clip");
    expect(r.err).not.toContain("--batch");
  });
});
