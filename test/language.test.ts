// The language end to end: what parses, what it builds, and every diagnostic it can give.
import { describe, expect, it } from "vitest";
import { catalog, Codes, parse, type Stage } from "../grammar/index.js";
import { elaborate } from "../compiler/elaborate/index.js";
import { CompileError } from "../compiler/evaluate.js";
import type { Graph } from "../compiler/index.js";
import { buildLibrary } from "../compiler/resolve.js";
import { checkSource, rendered } from "./helpers.js";

function build(src: string, options = {}, others = {}): Graph {
  const r = checkSource(src, options, others);
  expect(rendered(r)).toBe("");
  return r.graphs[0]!;
}
function layer(g: Graph, path: string) {
  const n = g.nodes.find((x) => x.path === path);
  if (!n) throw new Error(`no layer ${path}; have ${g.nodes.map((x) => x.path).join(", ")}`);
  return n;
}

describe("parser", () => {
  it("parses every construct of the language", () => {
    const src = `
# comment
import "lib.csn"
block b(out: int, stride: int = 1, mode: ir | ip = ir, eps: float = 1e-3, k: dims = 3x3x3) {
  let inner = out / 4
  residual(shortcut = auto) { conv_a: conv(inner, 1x1x1) bn(eps) relu }
}
model m(width = 64, classes: int = 400) {
  input 3 x 8 x 32 x 32
  stage s { repeat 2 as i { b(width, stride = i == 0 ? 2 : 1) } }
  if width > 32 and not (classes == 1) { relu } else if width < 8 { relu } else { relu }
  fc(classes)
}`;
    const r = parse(src, "x.csn");
    expect(r.diagnostics).toEqual([]);
    expect(r.program!.imports.map((i) => i.path)).toEqual(["lib.csn"]);
    expect(r.program!.blocks[0]!.params.map((p) => p.name)).toEqual([
      "out",
      "stride",
      "mode",
      "eps",
      "k",
    ]);
    expect(r.program!.models[0]!.body.map((s) => s.kind)).toEqual(["input", "stage", "if", "call"]);
  });

  it("reports every syntax error of a file in one run, with positions and hints", () => {
    const src = `model m(width = 8) {
  input 3x8x32x32
  conv(width, 3x3x3
  bn(eps = )
  relu
}
}`;
    const r = parse(src, "bad.csn");
    expect(r.program).toBeUndefined();
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(3);
    expect(r.diagnostics.every((d) => d.code === Codes.syntaxError)).toBe(true);
    const text = rendered({
      diagnostics: r.diagnostics,
      sources: new Map([["bad.csn", src]]),
      graphs: [],
    });
    expect(text).toContain("bad.csn:4:3: error: expected ')' but found 'bn'");
    expect(text).toContain("bad.csn:4:12: error: unexpected ')' where a value was expected");
    expect(text).toContain("bad.csn:7:1: error: unexpected '}' at the top level");
    expect(text).toContain("hint: this '}' closes nothing");
    expect(text).toMatch(/\n {4}bn\(eps = \)\n {13}\^\n/);
  });

  it("reports a file cut short", () => {
    const r = parse("model m() {\n  input 3x8x8x8\n  conv(4,", "cut.csn");
    expect(r.diagnostics.length).toBeGreaterThan(0);
    expect(r.diagnostics[0]!.message).toContain("the end of the file");
    expect(r.diagnostics[0]!.hint).toContain("ends too early");
  });

  it("reports characters outside the language", () => {
    const r = parse("model m() { input 3x8x8x8 @ relu }", "lex.csn");
    expect(r.diagnostics.map((d) => d.code)).toEqual([Codes.lexError]);
    expect(r.diagnostics[0]!.message).toBe('unexpected character "@"');
  });

  // `x` writes dims (`3 x 3 x 3`), so it is no name: wherever one goes, one error says so, at
  // the `x` (line 3 is the model's first statement).
  it.each([
    ["a parameter", "model m(x: int = 1) {\n  input 3x4x4x4\n  relu\n}", "1:9"],
    ["a block", "block x() {\n  relu\n}", "1:7"],
    ["a model", "model x {\n  input 3x4x4x4\n  relu\n}", "1:7"],
    ["a let", "model m {\n  input 3x4x4x4\n  let x = 3\n  relu\n}", "3:7"],
    ["a stage", "model m {\n  input 3x4x4x4\n  stage x { relu }\n}", "3:9"],
    ["a repeat index", "model m {\n  input 3x4x4x4\n  repeat 2 as x { relu }\n}", "3:15"],
    ["a type", "block b(k: x | y) {\n  relu\n}", "1:12"],
    ["a call after a layer", "model m {\n  input 3x4x4x4\n  relu\n  x()\n}", "4:3"],
    ["a call after an expression", "model m {\n  input 3x4x4x4\n  x()\n}", "3:3"],
    ["a call after a let", "model m {\n  input 3x4x4x4\n  let a = 2\n  x()\n}", "4:3"],
    ["a label", "model m {\n  input 3x4x4x4\n  x: conv(3, 1x1x1)\n}", "3:3"],
    ["an argument name", "model m {\n  input 3x4x4x4\n  conv(x = 3, 1x1x1)\n}", "3:8"],
    ["a value", "model m {\n  input 3x4x4x4\n  let a = x + 1\n  relu\n}", "3:11"],
  ])("says 'x' is reserved where it is written as %s", (_what, src, at) => {
    const r = parse(src, "x.csn");
    const sources = new Map([["x.csn", src]]);
    const text = rendered({ diagnostics: r.diagnostics, sources, graphs: [] });
    expect(text.split("\n")[0]).toBe(
      `x.csn:${at}: error: 'x' is reserved (it writes dimensions, as in 3x3x3): pick another name [CSN1002]`,
    );
    // Some places leave chevrotain's recovery out of step (a stage's body then reads as the
    // model's), but no second error is about the `x`.
    expect(text.match(/'x'/g)).toHaveLength(1);
  });

  it("keeps 'x' between dims, and a doubled or dangling 'x' a plain syntax error", () => {
    expect(parse("model m { input 3 x 4 x 4 x 4\n  relu }", "ok.csn").diagnostics).toEqual([]);
    const doubled = parse("model m { input 3 x x 4 }", "bad.csn").diagnostics;
    expect(doubled.map((d) => d.message)).toEqual(["unexpected 'x' where a value was expected"]);
    const dangling = parse("model m { input 3x4x4x4 x }", "bad.csn").diagnostics;
    expect(dangling.map((d) => d.message)).toEqual(["unexpected '}' where a value was expected"]);
  });
});

describe("elaboration and shapes", () => {
  it("applies the floor rule for strided, padded windows", () => {
    const g = build(`model m() {
  input 3x7x33x47
  conv(5, 3x7x7, stride = 1x2x2)
  maxpool(1x3x3, stride = 1x2x2, pad = 0x1x1)
  conv(6, 2x4x4, stride = 3, pad = 1x0x2)
  avgpool(2x2x2)
  avgpool
}`);
    expect(g.nodes.map((n) => n.shape.join("x"))).toEqual([
      "1x3x7x33x47",
      "1x5x7x17x24", // H: floor((33 + 6 - 7) / 2) + 1 = 17, W: floor((47 + 6 - 7) / 2) + 1 = 24
      "1x5x7x9x12", // H: floor((17 + 2 - 3) / 2) + 1 = 9
      "1x6x3x2x5", // T: floor((7 + 2 - 2) / 3) + 1 = 3, H: floor((9 - 4) / 3) + 1 = 2, W: floor((12 + 4 - 4) / 3) + 1 = 5
      "1x6x1x1x2", // stride defaults to the window
      "1x6x1x1x1", // global
    ]);
  });

  it("defaults padding to kernel/2 and dwconv to groups = channels", () => {
    const g = build(`model m() { input 3x8x16x16  conv(8, 3x5x1) dwconv(3x3x3, stride = 2) }`);
    const conv = layer(g, "conv");
    expect(conv.op).toMatchObject({ kind: "conv", pad: [1, 2, 0], groups: 1 });
    const dw = layer(g, "conv_1");
    expect(dw.op).toMatchObject({ kind: "conv", groups: 8, depthwise: true, outChannels: 8 });
    expect(dw.shape).toEqual([1, 8, 4, 8, 8]);
  });

  it("names layers by stage, repeat index, block and label", () => {
    const g = build(`
block blk(out: int) { residual { conv_a: conv(out, 1x1x1) bn relu conv_b: conv(out, 1x1x1) } relu }
model m() {
  input 3x4x8x8
  stage res2 { repeat 2 { blk(16) } }
  stage res3 { blk(16) blk(16) first: blk(16) }
}`);
    const paths = g.nodes.map((n) => n.path);
    expect(paths).toContain("res2.0.conv_a");
    expect(paths).toContain("res2.0.shortcut.conv");
    expect(paths).toContain("res2.0.shortcut.bn");
    expect(paths).toContain("res2.1.add");
    expect(paths).not.toContain("res2.1.shortcut.conv");
    expect(paths).toContain("res3.blk.conv_a");
    expect(paths).toContain("res3.blk_1.conv_a");
    expect(paths).toContain("res3.first.conv_b");
    expect(layer(g, "res2.1.conv_a").block).toBe("res2.1");
    expect(layer(g, "res2.1.conv_a").stage).toBe("res2");
  });

  it("projects shortcuts automatically, with the stride the shapes need", () => {
    const g = build(`model m() { input 4x9x15x16  residual { conv(8, 3x3x3, stride = 2) } }`);
    expect(layer(g, "shortcut.conv").op).toMatchObject({
      kind: "conv",
      kernel: [1, 1, 1],
      stride: [2, 2, 2],
      outChannels: 8,
    });
    expect(layer(g, "add").shape).toEqual([1, 8, 5, 8, 8]);
  });

  it("honours identity, project and explicit shortcuts", () => {
    const same = `model m() { input 4x4x8x8  residual(shortcut = project) { conv(4, 3x3x3) } }`;
    expect(build(same).nodes.map((n) => n.path)).toContain("shortcut.conv");
    const explicit = `model m() { input 4x4x8x8  residual { conv(8, 3x3x3, stride = 2) } shortcut { maxpool(1x1x1, stride = 2) conv(8, 1x1x1) } }`;
    const g = build(explicit);
    expect(layer(g, "shortcut.pool").shape).toEqual([1, 4, 2, 4, 4]);
    expect(layer(g, "add").inputs).toEqual([layer(g, "conv").id, layer(g, "shortcut.conv").id]);
  });

  it("evaluates arithmetic, enums, conditionals and --set", () => {
    const src = `
block b(mode: ir | ip = ir) { if mode == ip { conv(2 ** 3, 1x1x1) } else { conv(max(3, 7 % 4) * 2 - 1, 1x1x1) } }
model m(mode: ir | ip = ir, width = 6) {
  input 3x4x8x8
  b(mode = mode)
  conv(width / 4 + (width > 5 ? 10 : 20), 1x1x1)
}`;
    expect(build(src).nodes.map((n) => n.shape[1])).toEqual([3, 5, 11]);
    const set = new Map([
      ["mode", { type: "enum" as const, value: "ip" }],
      ["width", { type: "int" as const, value: 2 }],
    ]);
    expect(build(src, { set }).nodes.map((n) => n.shape[1])).toEqual([3, 8, 20]);
  });

  it("takes --input and --batch over the declared input", () => {
    const g = build(`model m() { input 3x8x8x8  conv(4, 1x1x1) }`, {
      input: [3, 2, 5, 7],
      batch: 4,
    });
    expect(g.nodes[1]!.shape).toEqual([4, 4, 2, 5, 7]);
    const noInput = build(`model m() { conv(4, 1x1x1) }`, { input: [2, 2, 2, 2] });
    expect(noInput.nodes[1]!.shape).toEqual([1, 4, 2, 2, 2]);
  });

  it("flattens C x T x H x W into fc", () => {
    const g = build(`model m() { input 3x2x2x2  fc(10) softmax dropout(0.2) }`);
    expect(g.nodes.map((n) => n.shape.join("x"))).toEqual([
      "1x3x2x2x2",
      "1x10x1x1x1",
      "1x10x1x1x1",
      "1x10x1x1x1",
    ]);
  });

  it("resolves imports relative to the importing file", () => {
    const g = build(
      `import "lib/a.csn"\nmodel m() { input 3x4x4x4  a() }`,
      {},
      {
        "lib/a.csn": `import "b.csn"\nblock a() { b() }`,
        "lib/b.csn": `import "a.csn"\nblock b() { conv(5, 1x1x1) }`,
      },
    );
    expect(g.nodes[1]!.shape[1]).toBe(5);
  });
});

// Every diagnostic the checker gives: a program, its code, and words the message must hold.
// Most programs are one model on a 3x4x4x4 input.
const modelOf = (body: string) => `model m() { input 3x4x4x4  ${body} }`;
const diagnostics: [string, string, number, string, Record<string, string>?][] = [
  [
    "unknown layer, with a suggestion",
    modelOf("cnov(4, 1x1x1)"),
    Codes.unknownLayer,
    "did you mean 'conv'?",
  ],
  [
    "unknown name",
    `model m(width = 4) { input 3x4x4x4  conv(widht, 1x1x1) }`,
    Codes.unknownName,
    "did you mean 'width'?",
  ],
  [
    "unknown parameter",
    modelOf("conv(4, 1x1x1, strid = 2)"),
    Codes.unknownParam,
    "did you mean 'stride'?",
  ],
  ["missing argument", modelOf("conv(4)"), Codes.missingArgument, "needs an argument 'kernel'"],
  [
    "duplicate argument",
    modelOf("conv(4, 1x1x1, out = 3)"),
    Codes.duplicateArgument,
    "given twice",
  ],
  ["too many arguments", modelOf("relu(1)"), Codes.tooManyArguments, "at most 0"],
  [
    "wrong argument type",
    modelOf("conv(1x1x1, 4)"),
    Codes.typeMismatch,
    "expects int, got dims 1x1x1",
  ],
  [
    "enum value outside its type",
    `block b(mode: ir | ip = ir) { relu }\nmodel m() { input 3x4x4x4  b(mode = auto) }`,
    Codes.typeMismatch,
    "one of: ir, ip",
  ],
  ["condition not a bool", modelOf("if 3 { relu }"), Codes.typeMismatch, "bool condition"],
  ["unknown type", `block b(size: innt) { relu }`, Codes.unknownType, "did you mean 'int'?"],
  [
    "duplicate block",
    `block b() { relu }\nblock b() { relu }`,
    Codes.duplicateName,
    "defined twice",
  ],
  [
    "duplicate model",
    `model m() { input 3x4x4x4 relu relu }\nmodel m() { input 3x4x4x4 relu }`,
    Codes.duplicateName,
    "model 'm' is defined twice",
  ],
  ["recursion", `block a() { b() }\nblock b() { a() }`, Codes.recursion, "calls itself"],
  ["direct recursion", `block a() { relu a() }`, Codes.recursion, "calls itself (a -> a)"],
  ["no input", `model m() { conv(4, 1x1x1) }`, Codes.missingInput, "declares no input"],
  ["input in a block", `block b() { input 3x4x4x4 }`, Codes.badValue, "belongs in a model"],
  ["input of the wrong rank", `model m() { input 3x4x4  relu }`, Codes.typeMismatch, "4 dims"],
  [
    "channel mismatch",
    modelOf("conv(8, 1x1x1) conv(4, 1x1x1, in = 16)"),
    Codes.channelMismatch,
    "expects 16 input channels",
  ],
  [
    "groups do not divide",
    `model m() { input 6x4x4x4  conv(8, 1x1x1, groups = 4) }`,
    Codes.groupsDontDivide,
    "must divide both",
  ],
  [
    "residual mismatch",
    `model m() { input 4x4x4x4  residual(shortcut = identity) { conv(8, 1x1x1) } }`,
    Codes.residualMismatch,
    "main path 8x4x4x4 vs shortcut 4x4x4x4",
  ],
  [
    "explicit shortcut mismatch",
    `model m() { input 4x4x4x4  residual { conv(8, 1x1x1) } shortcut { conv(6, 1x1x1) } }`,
    Codes.residualMismatch,
    "residual shapes differ",
  ],
  [
    "no projection fits",
    `model m() { input 4x4x8x8  residual { conv(4, 3x3x3, pad = 0) } }`,
    Codes.residualMismatch,
    "no 1x1x1 projection",
  ],
  [
    "window larger than input",
    `model m() { input 3x2x8x8  conv(4, 5x3x3, pad = 0) }`,
    Codes.windowTooLarge,
    "larger than its padded input along T",
  ],
  [
    "dimension reaching zero",
    `model m() { input 3x0x8x8  relu }`,
    Codes.dimensionZero,
    "must be positive",
  ],
  [
    "bad stride",
    modelOf("conv(4, 1x1x1, stride = 0)"),
    Codes.badValue,
    "stride 0x0x0 must be at least 1",
  ],
  [
    "pool padding over half",
    modelOf("maxpool(2x2x2, pad = 2)"),
    Codes.badValue,
    "at most half the window",
  ],
  ["negative repeat", modelOf("repeat 0 - 1 { relu }"), Codes.typeMismatch, "non-negative int"],
  [
    "runaway expansion",
    modelOf("repeat 100000 { repeat 100000 { relu } }"),
    Codes.tooLarge,
    "more than",
  ],
  ["integer overflow", modelOf("conv(2 ** 80, 1x1x1)"), Codes.tooLarge, "out of range"],
  ["division by zero", modelOf("conv(4 / 0, 1x1x1)"), Codes.typeMismatch, "division by zero"],
  [
    "import outside the project",
    `import "../../etc/x.csn"\nmodel m() { input 3x4x4x4 relu }`,
    Codes.importOutsideProject,
    "outside the project tree",
  ],
  [
    "missing import",
    `import "nope.csn"\nmodel m() { input 3x4x4x4 relu }`,
    Codes.importNotFound,
    "cannot read imported file 'nope.csn'",
  ],
  [
    "unknown function",
    modelOf("conv(mean(2, 4), 1x1x1)"),
    Codes.unknownName,
    "unknown function 'mean'",
  ],
];

describe("diagnostics", () => {
  for (const [what, src, code, words] of diagnostics) {
    it(what, () => {
      const r = checkSource(src);
      expect(r.diagnostics.map((d) => d.code)).toContain(code);
      const text = rendered(r);
      expect(text).toContain(words);
      expect(text).toMatch(/^main\.csn:\d+:\d+: error: /);
    });
  }

  it("points at the block call and repeat that produced a failing layer", () => {
    const r = checkSource(`block b(out: int) {
  conv(out, 3x3x3, groups = 3)
}
model m() {
  input 3x8x32x32
  stage s { repeat 2 { b(8) } }
}`);
    expect(rendered(r))
      .toBe(`main.csn:2:3: error: groups = 3 must divide both the input channels (3) and the output channels (8) [CSN3002]
    conv(out, 3x3x3, groups = 3)
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  main.csn:6:24: note: in block 'b' called here
  main.csn:6:13: note: in iteration 0 of this repeat
  hint: pick a group count that divides both channel counts`);
  });

  it("reports the second of two models of one name, pointing at the first", () => {
    const r = checkSource(`model m {
  input 3x4x4x4
  relu
}
model m {
  input 3x4x4x4
  relu
}`);
    expect(r.graphs).toEqual([]);
    expect(rendered(r)).toBe(`main.csn:5:7: error: model 'm' is defined twice [CSN2001]
  model m {
        ^
  main.csn:1:7: note: first defined here
  hint: rename one of them`);
    // Models of one name in different files do not meet: only the checked file's are built.
    const lib = `block b() { relu }\nmodel m { input 3x4x4x4 relu }`;
    expect(
      build(`import "lib.csn"\nmodel m { input 3x4x4x4 b }`, {}, { "lib.csn": lib }).model,
    ).toBe("m");
  });

  it("reports recursion through an imported file", () => {
    const r = checkSource(
      `import "lib.csn"\nblock a() { relu b() }\nmodel m { input 3x4x4x4 a }`,
      {},
      { "lib.csn": `import "main.csn"\nblock b() { a() }` },
    );
    expect(r.diagnostics.map((d) => d.code)).toEqual([Codes.recursion]);
    expect(rendered(r)).toMatch(/calls itself \((a -> b -> a|b -> a -> b)\)/);
    expect(rendered(r)).toContain("hint: use 'repeat' to stack blocks instead of recursion");
  });

  it("stops recursion as a model is built too, should the binder's check be passed over", () => {
    const program = parse(
      `block a() { relu b }\nblock b() { a }\nmodel m { input 3x4x4x4 a }`,
      "r.csn",
    ).program!;
    const { library, diagnostics } = buildLibrary([program]);
    expect(diagnostics.map((d) => d.code)).toEqual([Codes.recursion]);
    let thrown: unknown;
    try {
      elaborate(program.models[0]!, library);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(CompileError);
    const d = (thrown as CompileError).diagnostic;
    expect(d.message).toBe("block 'a' calls itself");
    expect(d.hint).toContain("instead of recursion");
    expect(d.notes.map((n) => n.message)).toEqual([
      "in block 'b' called here",
      "in block 'a' called here",
    ]);
  });

  it("cuts a long call chain's notes to the innermost and outermost five", () => {
    let src = "";
    for (let i = 1; i < 30; i++) src += `block b${i} { repeat 1 { b${i + 1} } }\n`;
    src += "block b30 { conv(4, 1x1x1, in = 5) }\nmodel m { input 3x4x4x4 b1 }";
    const d = checkSource(src).diagnostics;
    expect(d.map((x) => x.code)).toEqual([Codes.channelMismatch]);
    const notes = d[0]!.notes.map((n) => n.message);
    expect(notes).toHaveLength(11);
    expect(notes.slice(0, 3)).toEqual([
      "in block 'b30' called here",
      "in iteration 0 of this repeat",
      "in block 'b29' called here",
    ]);
    // 30 calls and 29 repeats: 10 shown.
    expect(notes[5]).toBe("... and 49 more calls and repeats");
    expect(notes[10]).toBe("in block 'b1' called here");
  });

  it("checks --set names and types", () => {
    const set = new Map([["widht", { type: "int" as const, value: 2 }]]);
    expect(rendered(checkSource(`model m(width = 4) { input 3x4x4x4 relu }`, { set }))).toContain(
      "did you mean 'width'?",
    );
    const wrong = new Map([["width", { type: "dims" as const, value: [1, 2] }]]);
    expect(
      rendered(checkSource(`model m(width = 4) { input 3x4x4x4 relu }`, { set: wrong })),
    ).toContain("expects int");
  });
});

describe("the code catalog", () => {
  // Each stage numbers its codes in its own range, so a code says which stage refused.
  const ranges: Record<Stage, readonly [number, number]> = {
    syntax: [1000, 1099],
    imports: [1100, 1199],
    names: [2000, 2999],
    shapes: [3000, 3099],
    plan: [3100, 3199],
    weights: [4000, 4099],
    devices: [4100, 4199],
    tuning: [4200, 4299],
    queue: [4300, 4399],
    trainingData: [4400, 4499],
    training: [4500, 4599],
  };

  it("declares every code once, in its stage's range", () => {
    const all = Object.entries(catalog).flatMap(([stage, codes]) =>
      Object.values(codes).map((code: number) => ({ stage: stage as Stage, code })),
    );
    expect(new Set(all.map((c) => c.code)).size).toBe(all.length);
    for (const { stage, code } of all) {
      const [from, to] = ranges[stage];
      expect(code >= from && code <= to, `${stage} code ${code}`).toBe(true);
    }
  });
});
