// Hostile .csn sources: symlinks out of the project, deep nesting, huge and binary files,
// terminal escapes, directories, and csnc's shipped models from anywhere. Every case must end
// in a clear diagnostic (exit 1 or 2) in bounded time, memory and output: no internal error,
// no stack trace, no raw control bytes.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import {
  capDiagnostics,
  maxCollectedPerFile,
  maxNesting,
  parse,
  printable,
} from "../grammar/index.js";
import { compileGraph } from "../compiler/compile.js";
import { checkFile } from "../compiler/index.js";
import { compatLimits, grid, GridError } from "../compiler/kernels/common.js";
import { nodeHost } from "../compiler/node-host.js";
import { PlanError } from "../compiler/plan.js";
import { buildLibrary } from "../compiler/resolve.js";
import { fileDiagnostics } from "../compiler/service/diagnostics.js";
import { hover } from "../compiler/service/hover.js";
import { analyse, overlayHost } from "../compiler/service/project.js";
import { shapeHints } from "../compiler/service/shapes.js";
import { chain, deep, modelWith } from "./hostile-source-inputs.js";
import { csnc } from "./hostile-source-cli.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-hostile-source-"));
let counter = 0;
/** Writes `text` (or bytes) to a fresh file under the work folder and returns its path. */
function file(text: string | Buffer, name = `f${counter++}.csn`): string {
  const p = path.join(work, name);
  writeFileSync(p, text);
  return p;
}

/** Exit `code`, a message matching `message`, and none of the signs of a crash. */
function expectClean(r: ReturnType<typeof csnc>, code: number, message: RegExp) {
  expect(r.signal, r.err.slice(0, 500)).toBeNull();
  expect(r.code, r.err.slice(0, 500)).toBe(code);
  expect(r.err + r.out).toMatch(message);
  expect(r.err).not.toContain("internal error");
  expect(r.err).not.toMatch(/\n\s+at /);
  expect(r.err.length + r.out.length).toBeLessThan(100_000);
  // Nothing a terminal would act on: escapes, other controls (tab and newline aside), DEL, C1.
  // eslint-disable-next-line no-control-regex
  expect(r.err + r.out).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  expect(r.maxRssMiB).toBeLessThan(1536);
}

describe("symlinks", () => {
  const project = path.join(work, "project");
  mkdirSync(path.join(project, "models/lib"), { recursive: true });
  writeFileSync(path.join(project, "package.json"), "{}");
  const secret = file("SECRET-FIRST-LINE do not show\n", "secret.csn");
  symlinkSync(secret, path.join(project, "models/lib/x.csn"));
  writeFileSync(
    path.join(project, "models/lib/blocks.csn"),
    "block twice() {\n  relu\n  relu\n}\n",
  );
  symlinkSync("blocks.csn", path.join(project, "models/lib/alias.csn"));

  it("refuses an import through a symlink that leaves the project, without reading it", () => {
    const entry = path.join(project, "models/m.csn");
    writeFileSync(entry, 'import "lib/x.csn"\nmodel m {\n  input 3x4x8x8\n  relu\n}\n');
    const r = csnc(["check", entry]);
    expectClean(r, 1, /m\.csn:1:1: error: import 'lib\/x\.csn' points outside the project tree/);
    expect(r.err).toContain(`it leads to ${secret}`);
    expect(r.err).toContain("[CSN1102]");
    expect(r.err).not.toContain("SECRET-FIRST-LINE");
  });

  it("refuses a file to check that is a symlink out of its project, without reading it", () => {
    const entry = path.join(project, "models/evil.csn");
    symlinkSync(secret, entry);
    const r = csnc(["check", entry]);
    expectClean(
      r,
      1,
      /error: .*evil\.csn is a symbolic link out of its project tree \(.*project\), to .*secret\.csn \[CSN1102\]/,
    );
    expect(r.err).not.toContain("SECRET-FIRST-LINE");
  });

  it("follows a symlink that stays inside, and a project reached through a linked folder", () => {
    const entry = path.join(project, "models/ok.csn");
    writeFileSync(entry, 'import "lib/alias.csn"\nmodel ok {\n  input 3x4x8x8\n  twice\n}\n');
    expectClean(csnc(["check", entry]), 0, /ok .*\(ok: 2 layers/);
    const link = path.join(work, "project-link");
    symlinkSync(project, link);
    expectClean(csnc(["check", path.join(link, "models/ok.csn")]), 0, /ok: 2 layers/);
  });
});

describe("nesting", () => {
  const cases: [string, string, string][] = [
    ["500 nested stages", modelWith(deep("stage s { ", "relu", " }", 500)), "{"],
    ["5000 brackets", modelWith(`let a = ${deep("(", "1", ")", 5000)}`), "("],
    ["5000 unary minus", modelWith(`let a = ${deep("- ", "1", "", 5000)}`), "-"],
    ["5000 nots", modelWith(`let a = ${deep("not ", "true", "", 5000)}`), "not"],
    ["5000 nested ternaries", modelWith(`let a = ${deep("true ? 1 : ", "2", "", 5000)}`), "?"],
    ["5000 powers", modelWith(`let a = ${chain("1", " ** ", 5000)}`), "**"],
    ["5000 nested calls", modelWith(`let a = ${deep("min(", "1", ")", 5000)}`), "("],
    ["500 else ifs", modelWith(`if false { relu }${" else if false { relu }".repeat(500)}`), "if"],
  ];
  it.each(cases)("%s: a diagnostic where the limit is crossed", (_name, text, opener) => {
    const f = file(text);
    const r = csnc(["check", f]);
    expectClean(
      r,
      1,
      new RegExp(
        `${path.basename(f)}:\\d+:\\d+: error: nesting deeper than ${maxNesting} levels \\[CSN1004\\]`,
      ),
    );
    // The caret stands under the token that opened the level too many.
    const [, shown, caret] = r.err.split("\n");
    const at = caret!.indexOf("^");
    expect(shown!.slice(at, at + opener.length)).toBe(opener);
  });

  it("allows nesting up to the limit and reports one level more", () => {
    // The model's body and the `let`'s expression are two levels.
    const src = (n: number) => modelWith(`let a = ${deep("(", "1", ")", n)}`);
    expect(parse(src(maxNesting - 2), "ok.csn").diagnostics).toEqual([]);
    expect(parse(src(maxNesting - 1), "deep.csn").diagnostics.map((d) => d.code)).toEqual([1004]);
  });

  it("folds 5000-term chains (+, and, or, *, arguments, dims) in loops", () => {
    const text = modelWith(
      [
        `let a = ${chain("1", " + ", 5000)}`,
        `let b = ${chain("true", " and ", 5000)}`,
        `let c = ${chain("false", " or ", 5000)} or true`,
        `let d = ${chain("1", " * ", 5000)}`,
        `let e = max(${chain("1", ", ", 5000)})`,
        `let f = ${chain("1", " x ", 5000)}`,
        `let g = ${chain("1", "x", 5000)}`,
        `conv(a - 4992, 1x1x1)`,
      ].join("\n  "),
    );
    expectClean(csnc(["check", file(text)]), 0, /\(m: 1 layers, 1x3x4x8x8 -> 1x8x4x8x8\)/);
  });

  it("stops block calls nested through bodies at 1000 levels, and long call chains", () => {
    let text = "";
    for (let i = 0; i < 300; i++)
      text += `block b${i} { ${deep("stage s { ", `b${i + 1}`, " }", 90)} }\n`;
    text += "block b300 { relu }\n" + modelWith("b0");
    expectClean(csnc(["check", file(text)]), 1, /error: layers nest more than 1000 levels deep/);
    text = "";
    for (let i = 0; i < 20_000; i++) text += `block b${i} { b${i + 1} }\n`;
    text += "block b20000 { relu }\n" + modelWith("b0");
    expectClean(
      csnc(["check", file(text)]),
      1,
      /error: block calls nest more than 1000 levels deep at 'b1000'/,
    );
  });

  // b1 calls b2 ... calls bN, each after a layer of its own (so each adds a path segment).
  const blockChain = (n: number) => {
    let text = "";
    for (let i = 1; i < n; i++) text += `block b${i} { relu b${i + 1} }\n`;
    return text + `block b${n} { relu }\n` + modelWith("b1");
  };

  it("builds a chain of 1000 blocks each calling the next: check, stats and the editor", () => {
    const f = file(blockChain(1000));
    expectClean(csnc(["check", f]), 0, /\(m: 1000 layers/);
    expectClean(csnc(["stats", f]), 0, /^total +1000$/m);
    // The language server analyses in-process, under whatever stack its caller left it.
    const text = blockChain(1000);
    const a = analyse(f, path.dirname(f), overlayHost(nodeHost, new Map([[f, text]])));
    expect(a.check.diagnostics).toEqual([]);
    const shapes = { own: a.check.graphs, others: [] };
    const started = Date.now();
    const hints = shapeHints(a, shapes);
    // Each call's instance holds every layer below it: was 22 s, comparing note chains.
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(hints).toHaveLength(2000);
    expect(hints.at(-1)!.label).toBe("→ 1x3x4x8x8");
    expect(hover(a, text.indexOf("b2 }"), shapes)?.markdown).toContain("output `1x3x4x8x8`");
    expect(fileDiagnostics(a, (x) => x)).toEqual([]);
  });

  it("refuses the 1001st nested block call, its notes cut to the first and last calls", () => {
    const r = csnc(["check", file(blockChain(1001))]);
    expectClean(
      r,
      1,
      /:1000:20: error: block calls nest more than 1000 levels deep at 'b1001' .*\[CSN2010\]/,
    );
    const notes = r.err.split("\n").filter((l) => l.includes("note:"));
    expect(notes).toHaveLength(11);
    expect(notes[0]).toMatch(/:999:19: note: in block 'b1000' called here$/);
    expect(notes[5]).toBe("  note: ... and 990 more calls");
    expect(notes[10]).toMatch(/:1004:3: note: in block 'b1' called here$/);
    // A chain that only is long is no recursion.
    expect(r.err).not.toContain("recursion");
    expect(r.err).toMatch(/hint: flatten the chain/);
  });
});

describe("scale", () => {
  it("checks and counts 150000 unnamed layers (1 MB) in seconds", () => {
    const f = file(modelWith(Array(150_000).fill("relu").join("\n  ")));
    let r = csnc(["check", f]);
    expectClean(r, 0, /\(m: 150000 layers/);
    // Naming unnamed layers was quadratic: 23000 took 16 s.
    expect(r.ms).toBeLessThan(20_000);
    r = csnc(["stats", f]);
    expectClean(r, 0, /^total +150000$/m);
    expect(r.ms).toBeLessThan(20_000);
  });

  it("reads a 2 MB file to the layer limit, and stops at a file of too many tokens", () => {
    const f = file(modelWith(Array(290_000).fill("relu").join("\n  ")));
    let r = csnc(["check", f]);
    expectClean(r, 1, /:200003:3: error: the model expands to more than 200000 layers/);
    expect(r.ms).toBeLessThan(20_000);
    r = csnc(["check", file(modelWith(`let a = ${chain("1", "+", 1_100_000)}`))]);
    expectClean(
      r,
      1,
      /error: .*\.csn is too large: it has about 2,200,\d{3} tokens, and csnc reads files of up to 2,000,000 \[CSN1006\]/,
    );
    expect(r.ms).toBeLessThan(10_000);
  });

  it("reads a line of 100000 characters and a string of 1 MB", () => {
    const long = chain("1", " + ", 25_000);
    const r = csnc([
      "check",
      file(modelWith(`let a = ${long} +\n  let b = "${"y".repeat(1 << 20)}"`)),
    ]);
    expectClean(r, 1, /:4:3: error: unexpected 'let' where a value was expected/);
  });
});

describe("binary and garbage", () => {
  it("calls 200 KB of random bytes not a text file, once", () => {
    const f = file(randomBytes(200_000));
    const r = csnc(["check", f]);
    expectClean(r, 1, /error: .*\.csn is not a text file: it holds NUL bytes \[CSN1003\]/);
    expect(r.err.split("\n").filter((l) => l.includes("error:"))).toHaveLength(1);
  });

  it("calls control bytes without NULs and invalid UTF-8 not a text file, and UTF-16 too", () => {
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => [1, 27, 0xff, 0x41][i % 4]!));
    expectClean(
      csnc(["check", file(bytes)]),
      1,
      /is not a text file: \d+ of its 5000 characters are control characters or invalid UTF-8/,
    );
    const utf16 = Buffer.from("\ufeffmodel m {\n  input 3x4x8x8\n  relu\n}\n", "utf16le");
    expectClean(csnc(["check", file(utf16)]), 1, /is not a text file: it holds NUL bytes/);
  });

  it("shows the first 50 errors of 200 KB of printable garbage, then a count", () => {
    const alphabet = 'abcxyz019{}()=,:+-*/ \n@"#';
    const bytes = randomBytes(200_000);
    const text = Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
    const r = csnc(["check", file(text)]);
    expectClean(
      r,
      1,
      /\nerror: and \d+ more error\(s\) in .*\.csn, not shown \(the first 50 are\) \[CSN1005\]/,
    );
    expect(r.err.match(/^\S+\.csn:\d+:\d+: error: /gm)).toHaveLength(50);
  });

  it("escapes terminal controls in source lines and messages, keeping the caret aligned", () => {
    const f = file(
      `import "\x1b]0;pwned\x07.csn"\nmodel m {\n  input 3x4x8x8\n  relu \x1b[2J @\n}\n`,
    );
    const r = csnc(["check", f]);
    expectClean(r, 1, /:1:8: error: this string holds a control character/);
    expect(r.err).toContain('\n  import "\\x1b]0;pwned\\x07.csn"\n');
    expect(r.err).toContain(':4:8: error: unexpected character "\\u001b"');
    expect(r.err).toContain("\n    relu \\x1b[2J @\n");
    const lines = r.err.split("\n");
    const i = lines.findIndex((l) => /:4:13: error: unexpected character "@"/.test(l));
    expect(lines[i + 2]!.indexOf("^")).toBe(lines[i + 1]!.indexOf("@"));
    expect(printable("a\u202eb\u0085c\td\ud800")).toBe("a\\u202eb\\u0085c\td\\ud800");
  });

  it("cuts a long source line around the caret", () => {
    const f = file(modelWith(`let a = ${"1 + ".repeat(5000)}@ + 1`));
    const r = csnc(["check", f]);
    expectClean(r, 1, /:3:20011: error: unexpected character "@"/);
    const [, shown, caret] = r.err.split("\n");
    expect(shown!.length).toBeLessThan(210);
    expect(shown).toMatch(/^ {2}…1 \+ 1 .* @ \+ 1$/);
    expect(shown![caret!.indexOf("^")]).toBe("@");
  });

  it("reports strings with escapes JSON does not know instead of crashing", () => {
    const r = csnc(["check", file('import "models\\lib\\blocks.csn"\nimport "tab\there.csn"\n')]);
    expectClean(r, 1, /:1:8: error: this string holds a control character or an unknown escape/);
    expect(r.err).toContain(":2:8: error: this string");
  });
});

describe("what is not a file", () => {
  it("names a directory as such, for check and for commands that load a model", () => {
    mkdirSync(path.join(work, "models"));
    for (const args of [
      ["check", "models"],
      ["stats", "models"],
      ["compile", "models", "-o", "out"],
    ]) {
      const r = csnc(args, work);
      expectClean(r, 1, /^error: cannot read models: it is a folder \[CSN1101\]$/m);
      expect(r.err).toContain("hint: give the .csn files in it instead, e.g. models/*.csn");
    }
  });

  it("names a missing file, a device and an imported directory", () => {
    expectClean(csnc(["check", path.join(work, "nope.csn")]), 1, /nope\.csn: no such file/);
    expectClean(
      csnc(["check", "/dev/null"]),
      1,
      /cannot read \/dev\/null: it is not a regular file/,
    );
    mkdirSync(path.join(work, "lib.csn"));
    const r = csnc(["check", file('import "lib.csn"\n')]);
    expectClean(
      r,
      1,
      /cannot read imported file 'lib\.csn' \(looked for .*lib\.csn: it is a folder\)/,
    );
  });
});

describe("csnc: imports", () => {
  const outside = mkdtempSync(path.join(tmpdir(), "csnc-outside-"));
  const write = (name: string, text: string) => writeFileSync(path.join(outside, name), text);

  it("bring csnc's shipped blocks to a model outside the repository", () => {
    write(
      "mine.csn",
      'import "csnc:lib/blocks.csn"\nmodel mine {\n  input 3x8x32x32\n  stem(16)\n  bottleneck_stage(2, 64, stride = 1)\n  head(10)\n}\n',
    );
    const r = csnc(["check", "mine.csn"], outside);
    expectClean(r, 0, /^ok {2}mine\.csn {2}\(mine: \d+ layers, 1x3x8x32x32 -> 1x10x1x1x1\)$/m);
  });

  it("show the shipped file as csnc:... in errors", () => {
    write(
      "groups.csn",
      'import "csnc:lib/blocks.csn"\nmodel g {\n  input 3x8x32x32\n  stem(16)\n  bottleneck_stage(1, 64, stride = 1, groups = 3, mode = resnet)\n}\n',
    );
    const r = csnc(["check", "groups.csn"], outside);
    expectClean(r, 1, /^csnc:lib\/blocks\.csn:\d+:\d+: error: groups = 3 must divide/m);
    expect(r.err).toMatch(/^ {2}groups\.csn:5:3: note: in block 'bottleneck_stage' called here$/m);
  });

  it("may not leave csnc's models, and name what is missing", () => {
    write(
      "esc.csn",
      'import "csnc:../../../../etc/passwd"\nimport "csnc:../package.json"\nimport "csnc:nope.csn"\n',
    );
    const r = csnc(["check", "esc.csn"], outside);
    expectClean(
      r,
      1,
      /esc\.csn:1:1: error: import 'csnc:\.\.\/\.\.\/\.\.\/\.\.\/etc\/passwd' points outside csnc's models \[CSN1102\]/,
    );
    expect(r.err).toContain(
      "esc.csn:2:1: error: import 'csnc:../package.json' points outside csnc's models",
    );
    expect(r.err).toContain(
      "esc.csn:3:1: error: cannot read imported file 'csnc:nope.csn' (looked for csnc:nope.csn: no such file)",
    );
    expect(r.err).not.toContain("root:");
  });

  it("a path into csnc's models from outside is refused with the csnc: name as the fix", () => {
    const models = path.resolve(import.meta.dirname, "../models/lib/blocks.csn");
    write(
      "rel.csn",
      `import "${path.relative(outside, models)}"\nmodel r {\n  input 3x8x32x32\n  stem(16)\n}\n`,
    );
    const r = csnc(["check", "rel.csn"], outside);
    expectClean(r, 1, /points outside the project tree/);
    expect(r.err).toContain(
      'hint: csnc\'s shipped models are imported by name: import "csnc:lib/blocks.csn"',
    );
  });
});

describe("user text and sizes past the limits", () => {
  const big = "a".repeat(1_000_000);

  it("quotes a 1 MB identifier cut to fit, as a name and as a layer word", () => {
    for (const body of [`conv(${big}, 1x1x1)`, big]) {
      const r = csnc(["check", file(modelWith(body))]);
      expectClean(r, 1, /error: unknown (name|layer or block) 'a+…a+' \[CSN200[23]\]/);
      expect(r.err.length).toBeLessThan(2_000);
    }
  });

  it("refuses a 1 MB import path and a 20000-part one before resolving them", () => {
    let r = csnc(["check", file(`import "${big}"\n${modelWith("relu")}`)]);
    expectClean(
      r,
      1,
      /:1:1: error: import 'a+…a+' is 1,000,000 characters long, and csnc resolves import paths of up to 4096 bytes \[CSN1101\]/,
    );
    expect(r.err.length).toBeLessThan(2_000);
    r = csnc(["check", file(`import "${"a/".repeat(20_000)}x.csn"\n${modelWith("relu")}`)]);
    expectClean(r, 1, /:1:1: error: import 'a\/a\/.*….*x\.csn' is 40,005 characters long/);
    expect(r.ms).toBeLessThan(10_000);
    r = csnc(["check", file(`import "${"a/".repeat(300)}x.csn"\n${modelWith("relu")}`)]);
    expectClean(
      r,
      1,
      /error: import '.*' has 301 path parts, and csnc resolves import paths of up to 256 \[CSN1101\]/,
    );
  });

  it("builds at most 1000 diagnostics of a file of 200000 distinct unknown layers", () => {
    const names = Array.from({ length: 200_000 }, (_, i) => `x${i}`).join(" ");
    const r = csnc(["check", file(modelWith(names))]);
    expectClean(r, 1, /error: and 199950 more error\(s\) in .*, not shown \(the first 50 are\)/);
    expect(r.err.match(/error: unknown layer or block/g)).toHaveLength(50);
    expect(r.ms).toBeLessThan(15_000);
    expect(r.maxRssMiB).toBeLessThan(600);
    // In process: the binder builds 1000 and stands in for the rest with one count.
    const { diagnostics } = buildLibrary([parse(modelWith(names), "many.csn").program!]);
    expect(diagnostics).toHaveLength(maxCollectedPerFile + 1);
    expect(diagnostics.at(-1)!.omitted).toBe(200_000 - maxCollectedPerFile);
    expect(capDiagnostics(diagnostics).at(-1)!.message).toMatch(/^and 199950 more error\(s\)/);
  });

  it("refuses a declared input past 2^31 elements, in check, weights random and export", () => {
    const f = file("model m() { input 3x60000x60000x60000 relu avgpool fc(10) }\n");
    const message =
      /:1:13: error: the input is 1x3x60000x60000x60000 = 6\.5e14 elements; csnc handles tensors of up to 2\^31 elements \[CSN3007\]/;
    expectClean(csnc(["check", f]), 1, message);
    const out = path.join(work, "x.safetensors");
    expectClean(csnc(["weights", "random", f, "-o", out]), 1, message);
    expectClean(csnc(["export", f, "--onnx", path.join(work, "x.onnx")]), 1, message);
  });

  it("refuses a layer's output or weights past 2^31 elements at the layer", () => {
    let r = csnc(["check", file(modelWith("conv(100000000000, 1x1x1)"))]);
    expectClean(
      r,
      1,
      /:3:3: error: the output of conv is 1x100000000000x4x8x8 = 2\.6e13 elements; csnc handles tensors of up to 2\^31 elements \[CSN3007\]/,
    );
    r = csnc(["check", file(modelWith("fc(10000000)"))]);
    expectClean(r, 1, /:3:3: error: the weights of fc have 7\.7e9 elements/);
  });

  it("reports a dispatch past the device's grid as a PlanError naming the layer", () => {
    const f = file("model m() {\n  input 3x4x64x64\n  conv(8, 3x3x3, pad = 1)\n}\n");
    const r = checkFile(f, path.dirname(f), nodeHost);
    expect(r.diagnostics).toEqual([]);
    // 2x2 workgroups of 64 cannot cover 8x4x64x64 outputs.
    const tiny = { ...compatLimits, maxComputeWorkgroupsPerDimension: 2 };
    expect(() => grid(1 << 20, tiny)).toThrow(GridError);
    expect(() => compileGraph(r.graphs[0]!, tiny)).toThrow(PlanError);
    expect(() => compileGraph(r.graphs[0]!, tiny)).toThrow(
      /^layer conv \(1x8x4x64x64\): a dispatch of \d+ invocations exceeds the device's grid \(2x2 workgroups of 64\)/,
    );
  });

  it("refuses numbers that overflow to infinity, in the file and on the command line", () => {
    const f = file(modelWith("bn(eps = 1e400)"));
    expectClean(
      csnc(["check", f]),
      1,
      /:3:12: error: number literal is out of range: it overflows to infinity \[CSN2013\]/,
    );
    const g = file("model m(eps: float = 0.1) {\n  input 3x4x8x8\n  bn(eps = eps)\n}\n");
    expectClean(
      csnc(["check", g, "--set", "eps=1e400"]),
      2,
      /error: --set: 1e400 is out of range for a number/,
    );
  });
});
