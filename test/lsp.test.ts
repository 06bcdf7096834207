// `csnc lsp --stdio` as an editor drives it: one server in a child process, JSON-RPC over its
// standard streams, on a copy of the shipped models and on broken and unseen files. Shapes and
// counts are checked against `csnc stats --json`, formatting against `csnc fmt`.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csncEntry } from "./csnc-process.js";
import { run } from "./helpers.js";
import { LspClient, positionOf, uri, type Diagnostic, type Position } from "../bench/lsp-client.js";

const root = path.resolve(import.meta.dirname, "..");
const work = mkdtempSync(path.join(tmpdir(), "csnc-lsp-"));
cpSync(path.join(root, "models"), path.join(work, "models"), { recursive: true });
writeFileSync(path.join(work, "package.json"), "{}");
const model = (f: string) => path.join(work, "models", f);
const read = (f: string) => readFileSync(f, "utf8");

let client: LspClient;
const doc = (file: string) => ({ textDocument: { uri: uri(file) } });
const at = (file: string, position: Position) => ({ ...doc(file), position });
const whole = { start: { line: 0, character: 0 }, end: { line: 100_000, character: 0 } };

interface Hint {
  position: Position;
  label: string;
  data: { shape: number[]; instances: number };
}
interface StatsLayer {
  path: string;
  output_shape: number[];
  params: number;
  macs: number;
  stage: string | null;
  location: { file: string; line: number; col: number };
}
interface Stats {
  output: { shape: number[] };
  totals: { params: number; macs: number; interactions: number };
  layers: StatsLayer[];
  stages: { name: string; params: number; macs: number; interactions: number }[];
}
const stats = async (file: string, ...extra: string[]): Promise<Stats> =>
  JSON.parse((await run("stats", file, "--json", ...extra)).out) as Stats;

/** Opens `file` (its text on disk unless given) and waits for its first diagnostics. */
async function open(file: string, text = read(file)): Promise<Diagnostic[]> {
  const d = client.diagnostics(file);
  client.open(file, text);
  return (await d).diagnostics;
}
let version = 10;
async function change(file: string, text: string): Promise<Diagnostic[]> {
  const d = client.diagnostics(file);
  client.change(file, text, ++version);
  return (await d).diagnostics;
}

beforeAll(async () => {
  client = new LspClient(csncEntry(), root);
  const init = (await client.initialize(work)) as { capabilities: Record<string, unknown> };
  expect(Object.keys(init.capabilities)).toEqual(
    expect.arrayContaining([
      "hoverProvider",
      "inlayHintProvider",
      "definitionProvider",
      "referencesProvider",
      "renameProvider",
      "completionProvider",
      "signatureHelpProvider",
      "documentSymbolProvider",
      "semanticTokensProvider",
      "documentFormattingProvider",
    ]),
  );
}, 60_000);

afterAll(async () => {
  expect(client.garbage).toEqual([]); // nothing but protocol on standard output
  expect(client.received.filter((m) => m.method === "window/logMessage")).toEqual([]);
  expect(await client.close()).toBe(0);
}, 30_000);

describe("csnc lsp: diagnostics", () => {
  it("a shipped model has none; two errors at once are both reported, with code and hint; a fix clears them", async () => {
    const file = model("ir-csn-152.csn");
    const text = read(file);
    expect(await open(file)).toEqual([]);
    const broken = text
      .replace("stem(width, eps)", "stem(width, eps")
      .replace("head(classes)", "head(classes))");
    const two = await change(file, broken);
    expect(two.length).toBe(2);
    expect(two.every((d) => d.code === "CSN1002")).toBe(true);
    expect(two.map((d) => d.range.start.line)).toEqual([8, 13]);
    expect(two[0]!.message).toContain("hint: every '(' needs a matching ')'");
    expect(await change(file, text)).toEqual([]);
  });

  it("an error in a block points at the block call and the repeat iteration; one in an imported file is reported on the import line", async () => {
    const file = model("variants/bottleneck-g.csn");
    const text = read(file);
    expect(await open(file)).toEqual([]);
    // groups = 3 divides no channel count: the error lies in lib/blocks.csn.
    const bad = text.replace("groups: int = 4", "groups: int = 3");
    const [d, ...rest] = await change(file, bad);
    expect(rest).toEqual([]);
    expect(d!.code).toBe("CSN3002");
    expect(d!.range.start.line).toBe(positionOf(bad, 'import "../lib/blocks.csn"').line);
    expect(d!.message).toMatch(/^\.\.\/lib\/blocks\.csn:\d+:\d+: groups = 3 must divide/);
    const related = d!.relatedInformation!;
    expect(related[0]!.location.uri).toBe(uri(model("lib/blocks.csn")));
    expect(related.map((r) => r.message)).toEqual(
      expect.arrayContaining([
        "in block 'bottleneck' called here",
        "in iteration 0 of this repeat",
        "in block 'bottleneck_stage' called here",
      ]),
    );
    // The call in this file is among the related places.
    expect(related.some((r) => r.location.uri === uri(file))).toBe(true);
    expect(await change(file, text)).toEqual([]);
  });

  it("an edit of an open imported file checks the files that import it again", async () => {
    const blocks = model("lib/blocks.csn");
    const btext = read(blocks);
    const file = model("variants/bottleneck-g.csn");
    await open(blocks);
    // bottleneck-g.csn is open (the test before): it is published again with the error.
    const again = client.next(
      (m) =>
        m.method === "textDocument/publishDiagnostics" &&
        (m.params as { uri: string; diagnostics: Diagnostic[] }).uri === uri(file) &&
        (m.params as { diagnostics: Diagnostic[] }).diagnostics.length > 0,
    );
    const renamed = btext.replace("block bottleneck_stage(", "block bottleneck_stages(");
    expect(await change(blocks, renamed)).toEqual([]);
    const ds = ((await again).params as { diagnostics: Diagnostic[] }).diagnostics;
    expect(ds.length).toBeGreaterThan(0);
    expect(ds.every((d) => d.code === "CSN2003")).toBe(true);
    expect(ds[0]!.message).toContain("unknown layer or block 'bottleneck_stage'");
    const fixed = client.diagnostics(file);
    expect(await change(blocks, btext)).toEqual([]);
    expect((await fixed).diagnostics).toEqual([]);
  });

  it("an unknown layer and an unknown name in one file: both, at their places", async () => {
    const file = path.join(work, "models", "scratch.csn");
    const text = `import "lib/blocks.csn"\n\nmodel m() {\n  input 3x8x32x32\n  convv(8, 3x3x3)\n  bn(epss)\n}\n`;
    const ds = await open(file, text);
    expect(ds.map((d) => [d.code, d.range.start.line])).toEqual([
      ["CSN2003", 4],
      ["CSN2002", 5],
    ]);
    expect(ds[0]!.message).toContain("hint: did you mean 'conv'");
    // An incremental edit, as editors send them: the first error fixed in place.
    const fixed = client.diagnostics(file);
    client.notify("textDocument/didChange", {
      textDocument: { uri: uri(file), version: ++version },
      contentChanges: [
        {
          range: { start: { line: 4, character: 2 }, end: { line: 4, character: 7 } },
          text: "conv",
        },
      ],
    });
    expect((await fixed).diagnostics.map((d) => [d.code, d.range.start.line])).toEqual([
      ["CSN2002", 5],
    ]);
  });
});

describe("csnc lsp: shapes", () => {
  it("inlay hints after each stage of ir-CSN-152 match csnc stats --json", async () => {
    const file = model("ir-csn-152.csn");
    const s = await stats(file);
    const hints = await client.request<Hint[]>("textDocument/inlayHint", {
      ...doc(file),
      range: whole,
    });
    const text = read(file);
    for (const stage of ["stem", "res2", "res3", "res4", "res5", "head"]) {
      const line = positionOf(text, `stage ${stage} `).line;
      const hint = hints.find((h) => h.position.line === line);
      const last = s.layers.filter((l) => l.stage === stage).at(-1)!;
      expect(hint?.data.shape, stage).toEqual(last.output_shape);
      expect(hint?.label).toBe(`→ ${last.output_shape.join("x")}`);
    }
  });

  it("hover on a stage and on a block call gives the shape with the batch and the stats' counts", async () => {
    const file = model("ir-csn-152.csn");
    const text = read(file);
    const s = await stats(file);
    const res3 = s.stages.find((g) => g.name === "res3")!;
    const shape = s.layers.filter((l) => l.stage === "res3").at(-1)!.output_shape;
    for (const where of [
      positionOf(text, "stage res3", 2),
      positionOf(text, "bottleneck_stage(res3", 4),
    ]) {
      const h = await client.request<{ contents: { value: string } }>(
        "textDocument/hover",
        at(file, where),
      );
      expect(h.contents.value).toContain(`output \`${shape.join("x")}\` (N x C x T x H x W)`);
      expect(h.contents.value).toContain(`(${res3.params.toLocaleString("en")})`);
      expect(h.contents.value).toContain(`(${res3.macs.toLocaleString("en")})`);
      expect(h.contents.value).toContain(`channel interactions`);
    }
    const sig = await client.request<{ contents: { value: string } }>(
      "textDocument/hover",
      at(file, positionOf(text, "bottleneck_stage(res3", 4)),
    );
    expect(sig.contents.value).toContain("block bottleneck_stage(n: int, out: int");
    expect(sig.contents.value).toContain("A stage of n bottlenecks");
    // On the model's name: its signature, output and totals.
    const m = await client.request<{ contents: { value: string } }>(
      "textDocument/hover",
      at(file, positionOf(text, "ir_csn_152(", 3)),
    );
    expect(m.contents.value).toContain("model ir_csn_152(width: int = 64");
    expect(m.contents.value).toContain(`output \`${s.output.shape.join("x")}\``);
    expect(m.contents.value).toContain(`(${s.totals.params.toLocaleString("en")})`);
    expect(m.contents.value).toContain(`(${s.totals.macs.toLocaleString("en")})`);
    expect(m.contents.value).toContain(`(${s.totals.interactions.toLocaleString("en")})`);
  });

  it("a layer of a block used 50 times: inlay hint and hover list the instances from the open model", async () => {
    const blocks = model("lib/blocks.csn");
    const text = read(blocks);
    await open(blocks);
    const s = await stats(model("ir-csn-152.csn"));
    const line = positionOf(text, "conv_b: dwconv").line;
    const instances = s.layers.filter(
      (l) => l.location.file.endsWith("blocks.csn") && l.location.line === line + 1,
    );
    expect(instances.length).toBe(3 + 8 + 36 + 3);
    const hints = await client.request<Hint[]>("textDocument/inlayHint", {
      ...doc(blocks),
      range: whole,
    });
    const hint = hints.find((h) => h.position.line === line)!;
    expect(hint.data).toEqual({ shape: instances[0]!.output_shape, instances: 50 });
    expect(hint.label).toBe(`→ ${instances[0]!.output_shape.join("x")} ×50`);
    const h = await client.request<{ contents: { value: string } }>(
      "textDocument/hover",
      at(blocks, positionOf(text, "conv_b: dwconv", 10)),
    );
    for (const l of instances.slice(0, 5))
      expect(h.contents.value).toContain(`\`${l.path}\` ${l.output_shape.join("x")}`);
    expect(h.contents.value).toContain("+45 more");
    expect(h.contents.value).not.toContain(instances[5]!.path + "`");
    // Hover on the block's name: its signature and doc comment.
    const b = await client.request<{ contents: { value: string } }>(
      "textDocument/hover",
      at(blocks, positionOf(text, "block bottleneck(", 7)),
    );
    expect(b.contents.value).toContain("block bottleneck(out: int, stride: int = 1");
    expect(b.contents.value).toContain("The bottleneck block and its channel-separated versions");
  });
});

describe("csnc lsp: navigation", () => {
  it("go to definition: a block call across imports, a parameter, a let, an import path", async () => {
    const file = model("ir-csn-152.csn");
    const text = read(file);
    const blocks = model("lib/blocks.csn");
    const btext = read(blocks);
    const def = (f: string, p: Position) =>
      client.request<{ uri: string; range: { start: Position } }[]>(
        "textDocument/definition",
        at(f, p),
      );
    expect(await def(file, positionOf(text, "bottleneck_stage(res3", 2))).toEqual([
      {
        uri: uri(blocks),
        range: {
          start: positionOf(btext, "bottleneck_stage(n"),
          end: positionOf(btext, "bottleneck_stage(n", 16),
        },
      },
    ]);
    expect((await def(file, positionOf(text, "16 * width", 6)))[0]!.range.start).toEqual(
      positionOf(text, "width: int"),
    );
    expect((await def(blocks, positionOf(btext, "groups = g)", 10)))[0]!.range.start).toEqual(
      positionOf(btext, "let g", 4),
    );
    expect((await def(file, positionOf(text, '"lib/blocks.csn"', 3)))[0]!.uri).toBe(uri(blocks));
  });

  it("references of a block and a rename across the project's files", async () => {
    const blocks = model("lib/blocks.csn");
    const btext = read(blocks);
    const refs = await client.request<{ uri: string }[]>("textDocument/references", {
      ...at(blocks, positionOf(btext, "block simple_stage", 8)),
      context: { includeDeclaration: true },
    });
    // Declared once, called by each simple-block model.
    const callers = [
      "resnet3d-26.csn",
      "variants/simple.csn",
      "variants/simple-d.csn",
      "variants/simple-g.csn",
    ].filter((f) => read(model(f)).includes("simple_stage("));
    expect(new Set(refs.map((r) => r.uri))).toEqual(
      new Set([uri(blocks), ...callers.map((f) => uri(model(f)))]),
    );
    const calls = callers.reduce((n, f) => n + read(model(f)).split("simple_stage(").length - 1, 0);
    expect(refs.length).toBe(1 + calls);
    const edit = await client.request<{ changes: Record<string, { newText: string }[]> }>(
      "textDocument/rename",
      {
        ...at(blocks, positionOf(btext, "block simple_stage", 8)),
        newName: "plain_stage",
      },
    );
    expect(Object.values(edit.changes).flat().length).toBe(1 + calls);
    // A parameter: its declaration, every use in the block, and named arguments in calls.
    const p = await client.request<{ changes: Record<string, { range: { start: Position } }[]> }>(
      "textDocument/rename",
      {
        ...at(blocks, positionOf(btext, "inner: int = out / 4", 0)),
        newName: "width",
      },
    );
    const inBlocks = p.changes[uri(blocks)]!.map((e) => e.range.start.line);
    const decl = positionOf(btext, "inner: int = out / 4").line;
    expect(inBlocks).toContain(decl);
    expect(inBlocks.length).toBe(5); // the declaration, three uses, `inner = inner` in bottleneck_stage
    await expect(
      client.request("textDocument/rename", {
        ...at(blocks, positionOf(btext, "relu_a", 1)),
        newName: "y",
      }),
    ).rejects.toThrow(/only blocks and parameters/);
  });
});

interface Completion {
  label: string;
  kind: number;
  detail?: string;
  sortText?: string;
}
const labels = (cs: Completion[]) => cs.map((c) => c.label);

describe("csnc lsp: completion and signature help", () => {
  const file = path.join(work, "models", "typing.csn");
  const head = `import "lib/blocks.csn"\n\nmodel typing(width: int = 16, mode: resnet | ip | ir | dg = ir) {\n  input 3x8x32x32\n`;
  const complete = async (text: string, marker: string) => {
    await change(file, text.replace(marker, ""));
    return client.request<Completion[]>(
      "textDocument/completion",
      at(file, positionOf(text, marker)),
    );
  };

  beforeAll(async () => {
    await open(file, head + "}\n");
  });

  it("at a statement: layer words from the layer table, blocks in scope (imported), keywords", async () => {
    const cs = await complete(head + "  co@\n}\n", "@");
    const words = labels(cs);
    for (const w of [
      "conv",
      "dwconv",
      "bn",
      "relu",
      "maxpool",
      "avgpool",
      "fc",
      "softmax",
      "dropout",
    ])
      expect(words).toContain(w);
    for (const b of ["stem", "bottleneck", "bottleneck_stage", "simple", "head"])
      expect(words).toContain(b);
    for (const k of ["let", "stage", "repeat", "if", "residual"]) expect(words).toContain(k);
    expect(cs.find((c) => c.label === "bottleneck_stage")?.detail).toContain(
      "block bottleneck_stage(n: int",
    );
  });

  it("inside a broken line: the named arguments with types and defaults, the parameters in scope", async () => {
    const cs = await complete(head + "  conv(8, 3x3x3, @\n}\n", "@");
    const words = labels(cs);
    expect(words).toEqual(
      expect.arrayContaining(["stride =", "pad =", "groups =", "bias =", "width", "mode"]),
    );
    expect(words).not.toContain("out =");
    expect(words).not.toContain("kernel =");
    expect(cs.find((c) => c.label === "groups =")?.detail).toBe("groups: int = 1");
  });

  it("type names in a parameter list; declarations at the top level", async () => {
    const types = labels(await complete(head + "}\n\nblock b(c: @\n", "@"));
    expect(types).toEqual(expect.arrayContaining(["int", "float", "bool", "dims", "string"]));
    const top = labels(await complete(head + "}\n\n@\n", "@"));
    expect(top).toEqual(expect.arrayContaining(["import", "block", "model"]));
    expect(top).not.toContain("conv");
  });

  it("enum values first where an enumeration is expected", async () => {
    for (const line of ["  bottleneck(64, mode = @\n", "  if mode == @\n"]) {
      const cs = await complete(head + line + "}\n", "@");
      const preferred = cs.filter((c) => c.sortText?.startsWith("0")).map((c) => c.label);
      expect(preferred).toEqual(["resnet", "ip", "ir", "dg"]);
    }
  });

  it("signature help for a block call and a layer call, with the active parameter", async () => {
    const text = head + "  bottleneck_stage(2, 64, mode = ip, @\n}\n";
    await change(file, text.replace("@", ""));
    const help = await client.request<{
      signatures: { label: string }[];
      activeParameter?: number;
    }>("textDocument/signatureHelp", at(file, positionOf(text, "@")));
    expect(help.signatures[0]!.label).toMatch(
      /^block bottleneck_stage\(n: int, out: int, stride: int = 2/,
    );
    const text2 = head + "  conv(8, 3x3x3, stride = @\n}\n";
    await change(file, text2.replace("@", ""));
    const help2 = await client.request<{
      signatures: { label: string }[];
      activeParameter?: number;
    }>("textDocument/signatureHelp", at(file, positionOf(text2, "@")));
    expect(help2.signatures[0]!.label).toMatch(/^conv\(out: int, kernel: dims/);
    expect(help2.activeParameter).toBe(2);
  });
});

describe("csnc lsp: symbols, semantic tokens, formatting", () => {
  it("document symbols: the model and its stages; blocks", async () => {
    const file = model("ir-csn-152.csn");
    const syms = await client.request<{ name: string; children: { name: string }[] }[]>(
      "textDocument/documentSymbol",
      doc(file),
    );
    expect(syms.map((s) => s.name)).toEqual(["ir_csn_152"]);
    expect(syms[0]!.children.map((s) => s.name)).toEqual([
      "stem",
      "res2",
      "res3",
      "res4",
      "res5",
      "head",
    ]);
    const blocks = await client.request<{ name: string }[]>(
      "textDocument/documentSymbol",
      doc(model("lib/blocks.csn")),
    );
    expect(blocks.map((s) => s.name)).toEqual([
      "stem",
      "bottleneck",
      "simple",
      "bottleneck_stage",
      "simple_stage",
      "head",
    ]);
  });

  it("semantic tokens: a block call is a function, a parameter a parameter, a layer word a default-library function", async () => {
    const file = model("ir-csn-152.csn");
    const text = read(file);
    const init = (
      await client.request<{ data: number[] }>("textDocument/semanticTokens/full", doc(file))
    ).data;
    const tokens: { line: number; char: number; length: number; type: number; mods: number }[] = [];
    let line = 0;
    let char = 0;
    for (let i = 0; i < init.length; i += 5) {
      line += init[i]!;
      char = init[i]! === 0 ? char + init[i + 1]! : init[i + 1]!;
      tokens.push({ line, char, length: init[i + 2]!, type: init[i + 3]!, mods: init[i + 4]! });
    }
    const find = (needle: string, delta = 0) => {
      const p = positionOf(text, needle, delta);
      return tokens.find((t) => t.line === p.line && t.char === p.character);
    };
    // Legend order: keyword, function, parameter, variable, type, enumMember, ...
    expect(find("bottleneck_stage(res3")?.type).toBe(1);
    expect(find("16 * width", 5)?.type).toBe(2);
    expect(find("stage res3")?.type).toBe(0);
    expect(find("ip | ir", 0)?.type).toBe(5);
    const btext = read(model("lib/blocks.csn"));
    const bt = (
      await client.request<{ data: number[] }>(
        "textDocument/semanticTokens/full",
        doc(model("lib/blocks.csn")),
      )
    ).data;
    expect(bt.length % 5).toBe(0);
    expect(btext.length).toBeGreaterThan(0);
  });

  it("formatting gives exactly what csnc fmt writes", async () => {
    const file = path.join(work, "models", "messy.csn");
    const messy = `import "lib/blocks.csn"\nmodel messy(width:int=8){input 3 x 8 x 32 x 32   # the clip\n  stage a{stem(width)}\n  stage b {bottleneck_stage( 2,4*width,stride=1 )}   # two\n\n\n  head(10)\n}\n`;
    writeFileSync(file, messy);
    await open(file, messy);
    const edits = await client.request<
      { newText: string; range: { start: Position; end: Position } }[]
    >("textDocument/formatting", { ...doc(file), options: { tabSize: 2, insertSpaces: true } });
    expect(edits.length).toBe(1);
    expect(edits[0]!.range.start).toEqual({ line: 0, character: 0 });
    const r = await run("fmt", file);
    expect(r.code).toBe(0);
    expect(edits[0]!.newText).toBe(read(file));
    expect(edits[0]!.newText).toContain("# the clip");
    // Formatted text needs no edits; broken text gets none.
    await change(file, read(file));
    expect(
      await client.request("textDocument/formatting", {
        ...doc(file),
        options: { tabSize: 2, insertSpaces: true },
      }),
    ).toEqual([]);
    await change(file, messy.replace("head(10)", "head(10"));
    expect(
      await client.request("textDocument/formatting", {
        ...doc(file),
        options: { tabSize: 2, insertSpaces: true },
      }),
    ).toEqual([]);
  });
});

describe("csnc lsp: an unseen model outside csnc's models", () => {
  it("gets diagnostics, shapes, definitions and completions", async () => {
    const dir = path.join(work, "elsewhere");
    mkdirSync(path.join(dir, "lib"), { recursive: true });
    writeFileSync(path.join(dir, "package.json"), "{}");
    const lib = path.join(dir, "lib", "mine.csn");
    writeFileSync(
      lib,
      `# Two convs, the second depthwise.\nblock pair(c: int, k: dims = 3x3x3) {\n  conv(c, 1x1x1)\n  dwconv(k)\n  relu\n}\n`,
    );
    const file = path.join(dir, "tiny.csn");
    const text = `import "lib/mine.csn"\nimport "csnc:lib/blocks.csn"\n\nmodel tiny(c: int = 12) {\n  input 3x4x24x24\n  stage one { stem(8) }\n  stage two {\n    repeat 2 { pair(c) }\n  }\n  head(5)\n}\n`;
    writeFileSync(file, text);
    expect(await open(file)).toEqual([]);
    const s = await stats(file);
    const hints = await client.request<Hint[]>("textDocument/inlayHint", {
      ...doc(file),
      range: whole,
    });
    const shapeAt = (l: string) => s.layers.find((x) => x.path === l)!.output_shape;
    const hintOn = (line: number) =>
      hints.filter((h) => h.position.line === line).map((h) => h.data);
    // The block called in a repeat: its first instance's shape and the count.
    expect(hintOn(positionOf(text, "pair(c)").line)).toEqual([
      { shape: shapeAt("two.0.relu"), instances: 2 },
    ]);
    // The stage of several lines, at its closing brace; a call outside any stage.
    expect(hintOn(positionOf(text, "stage two {").line + 2)).toEqual([
      { shape: shapeAt("two.1.relu"), instances: 1 },
    ]);
    expect(hintOn(positionOf(text, "head(5)").line)).toEqual([
      { shape: shapeAt("head.fc"), instances: 1 },
    ]);
    expect(hintOn(positionOf(text, "stage one").line)).toEqual([
      { shape: shapeAt("one.pool"), instances: 1 },
    ]);
    const h = await client.request<{ contents: { value: string } }>(
      "textDocument/hover",
      at(file, positionOf(text, "pair(c)", 2)),
    );
    expect(h.contents.value).toContain(`- \`two.0\` ${shapeAt("two.0.relu").join("x")}`);
    expect(h.contents.value).toContain(`- \`two.1\` ${shapeAt("two.1.relu").join("x")}`);
    const def = await client.request<{ uri: string }[]>(
      "textDocument/definition",
      at(file, positionOf(text, "pair(c)", 1)),
    );
    expect(def[0]!.uri).toBe(uri(lib));
    const shipped = await client.request<{ uri: string }[]>(
      "textDocument/definition",
      at(file, positionOf(text, "stem(8)", 1)),
    );
    expect(shipped[0]!.uri).toBe(uri(path.join(root, "models", "lib", "blocks.csn")));
    const broken = text.replace("head(5)", "pair(c, @\n  head(5)");
    await change(file, broken.replace("@", ""));
    const cs = await client.request<Completion[]>(
      "textDocument/completion",
      at(file, positionOf(broken, "@")),
    );
    expect(labels(cs)).toEqual(expect.arrayContaining(["k =", "c"]));
    expect(cs.find((c) => c.label === "k =")?.detail).toBe("k: dims = 3x3x3");
    // A wrong channel count in the unseen file's own block, through the call.
    const [d] = await change(file, text.replace("head(5)", "conv(7, 1x1x1, in = 5)\n  head(5)"));
    expect(d!.code).toBe("CSN3001");
    expect(d!.range.start.line).toBe(9);
  });
});

describe("csnc lsp: hostile text", () => {
  it("without --stdio it is a usage error", async () => {
    const r = await run("lsp");
    expect(r.code).toBe(2);
    expect(r.err).toContain("csnc lsp needs --stdio");
  });

  it("binary bytes, deep nesting, a huge body and a long line: answered, never a crash", async () => {
    const cases: [string, string][] = [
      [
        "binary.csn",
        Array.from({ length: 4000 }, (_, i) => String.fromCharCode((i * 7919) % 256)).join(""),
      ],
      [
        "deep.csn",
        `model m() {\n  input 3x8x8x8\n  conv(${"(".repeat(5000)}1${")".repeat(5000)}, 1x1x1)\n}\n`,
      ],
      ["braces.csn", `model m() ${"{".repeat(3000)}\n`],
      ["long.csn", `model m() {\n  input 3x8x8x8\n${"  relu\n".repeat(10_000)}}\n`],
      ["line.csn", `model m() { input 3x8x8x8 ${"relu ".repeat(20_000)}`],
    ];
    for (const [name, text] of cases) {
      const file = path.join(work, name);
      const ds = await open(file, text);
      expect(Array.isArray(ds), name).toBe(true);
      const p = { line: 2, character: 4 };
      for (const method of [
        "textDocument/hover",
        "textDocument/completion",
        "textDocument/signatureHelp",
        "textDocument/definition",
      ])
        await expect(client.request(method, at(file, p)), `${name} ${method}`).resolves.not.toThrow;
      await client.request("textDocument/inlayHint", { ...doc(file), range: whole });
      await client.request("textDocument/semanticTokens/full", doc(file));
      await client.request("textDocument/documentSymbol", doc(file));
      await client.request("textDocument/formatting", {
        ...doc(file),
        options: { tabSize: 2, insertSpaces: true },
      });
      client.notify("textDocument/didClose", doc(file));
    }
  }, 120_000);
});
