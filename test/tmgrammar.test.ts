// The TextMate grammar of the VS Code extension (source.csn), run by VS Code's own engine
// (vscode-textmate on vscode-oniguruma): snapshots of the scopes of shipped models and of a
// sample with every construct, conventional scopes where they matter, and its word lists
// checked against the lexer's keywords and the compiler's layer table.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import * as oniguruma from "vscode-oniguruma";
import * as textmate from "vscode-textmate";
import { beforeAll, describe, expect, it } from "vitest";
import { allTokens } from "../grammar/tokens.js";
import { layerWords } from "../compiler/service/describe.js";

const root = path.resolve(import.meta.dirname, "..");
const grammarFile = path.join(root, "editors", "vscode", "syntaxes", "csn.tmLanguage.json");
const raw = readFileSync(grammarFile, "utf8");
let grammar: textmate.IGrammar;

beforeAll(async () => {
  const wasm = readFileSync(
    createRequire(import.meta.url).resolve("vscode-oniguruma/release/onig.wasm"),
  );
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (p) => new oniguruma.OnigScanner(p),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scope) =>
      scope === "source.csn" ? textmate.parseRawGrammar(raw, grammarFile) : null,
  });
  grammar = (await registry.loadGrammar("source.csn"))!;
});

interface Token {
  text: string;
  scopes: string[];
}

function tokenize(text: string): Token[][] {
  let state = textmate.INITIAL;
  return text.split("\n").map((line) => {
    const r = grammar.tokenizeLine(line, state);
    state = r.ruleStack;
    return r.tokens.map((t) => ({
      text: line.slice(t.startIndex, t.endIndex),
      scopes: t.scopes.slice(1),
    }));
  });
}

/** Lines and their tokens' scopes, as vscode-tmgrammar-test's snapshots show them. */
function snapshot(text: string): string {
  const lines = text.split("\n");
  return tokenize(text)
    .map((tokens, i) => {
      const out = [`>${lines[i]}`];
      for (const t of tokens)
        if (t.text.trim()) out.push(`  ${JSON.stringify(t.text)}: ${t.scopes.join(" ") || "-"}`);
      return out.join("\n");
    })
    .join("\n");
}

/** The scopes of the first token that is exactly `word` on the line holding `needle`. */
function scopesOf(text: string, needle: string, word: string): string[] {
  const lines = text.split("\n");
  const i = lines.findIndex((l) => l.includes(needle));
  const tokens = tokenize(text)[i]!;
  return tokens.find((t) => t.text.trim() === word)?.scopes ?? [];
}

const sample = `# every construct once
import "lib/blocks.csn"

block pair(c: int, k: dims = 3x3x3, mode: a | b = a, eps: float = 1e-3, on: bool = true) {
  let half = c / 2 ** 1 % 3
  conv_a: conv(c, 1x1x1, stride = 2, groups = c > 4 and not false ? 2 : 1)
  residual(shortcut = identity) { dwconv(k) } shortcut { relu }
  if mode == a { bn(eps) } else if mode != b { relu } else { fc(10) }
  repeat 2 as i { stem(8) }
}

model m(width = 8) {
  input 3 x 8 x 32 x 32   # C x T x H x W
  stage one { pair(width, mode = b) }
}
`;

describe("TextMate grammar source.csn", () => {
  it("snapshots: ir-CSN-152, the shipped blocks and a sample of every construct", async () => {
    for (const [name, text] of [
      ["ir-csn-152", readFileSync(path.join(root, "models", "ir-csn-152.csn"), "utf8")],
      ["blocks", readFileSync(path.join(root, "models", "lib", "blocks.csn"), "utf8")],
      ["sample", sample],
    ] as const)
      await expect(snapshot(text)).toMatchFileSnapshot(
        path.join(import.meta.dirname, "tmgrammar", `${name}.snap`),
      );
  });

  it("conventional scopes", () => {
    const has = (needle: string, word: string, scope: string) =>
      expect(scopesOf(sample, needle, word), `${word} in ${needle}`).toContain(scope);
    has("# every", "#", "comment.line.number-sign.csn");
    has("# every", "every construct once", "comment.line.number-sign.csn");
    has("block pair", "block", "storage.type.block.csn");
    has("block pair", "pair", "entity.name.function.csn");
    has("model m", "m", "entity.name.function.csn");
    has("import", "import", "keyword.control.import.csn");
    has("import", '"', "string.quoted.double.csn");
    has("if mode", "if", "keyword.control.if.csn");
    has("if mode", "else", "keyword.control.else.csn");
    has("repeat 2", "repeat", "keyword.control.repeat.csn");
    has("repeat 2", "as", "keyword.control.as.csn");
    has("repeat 2", "2", "constant.numeric.integer.csn");
    has("block pair", "3x3x3", "constant.numeric.dims.csn");
    has("block pair", "1e-3", "constant.numeric.float.csn");
    has("block pair", "true", "constant.language.boolean.csn");
    has("block pair", "int", "support.type.csn");
    has("conv_a", "conv_a", "entity.name.label.csn");
    has("conv_a", "conv", "support.function.layer.csn");
    has("conv_a", "stride", "variable.parameter.csn");
    has("conv_a", "and", "keyword.operator.logical.csn");
    has("repeat 2", "stem", "entity.name.function.call.csn");
    has("input 3", "x", "keyword.operator.dims.csn");
    has("input 3", "#", "punctuation.definition.comment.csn");
    has("let half", "let", "keyword.other.let.csn");
    has("let half", "half", "variable.other.definition.csn");
    has("let half", "**", "keyword.operator.arithmetic.csn");
    has("residual", "residual", "keyword.other.residual.csn");
  });

  it("its keywords are exactly the lexer's, its layer words exactly the layer table's", () => {
    type Rule = { match?: string; begin?: string; patterns?: Rule[] };
    const g = JSON.parse(raw) as { repository: Record<string, Rule> };
    // The rules of words the lexer makes keywords (not the layer words or type names).
    const keywordRules = [
      "declaration",
      "import",
      "statement-keyword",
      "control",
      "constant",
      "logical",
      "operator",
    ]
      .map((k) => g.repository[k]!)
      .flatMap((r) => [r, ...(r.patterns ?? [])]);
    const grammarWords = new Set(
      keywordRules.flatMap((r) =>
        [...`${r.match ?? ""} ${r.begin ?? ""}`.matchAll(/\\b\(([a-z|]+)\)|\\bx\\b/g)].flatMap(
          (m) => (m[1] ? m[1].split("|") : ["x"]),
        ),
      ),
    );
    const lexerWords = new Set(
      allTokens
        .filter((t) => typeof t.PATTERN === "string" && /^[a-z]+$/.test(t.PATTERN))
        .map((t) => t.PATTERN as string),
    );
    expect([...grammarWords].sort()).toEqual([...lexerWords].sort());
    const layer = g.repository.layer!.match!;
    const listed = /\\b\(([a-z|]+)\)/.exec(layer)![1]!.split("|");
    expect(listed.sort()).toEqual(layerWords().sort());
  });
});

describe("the VS Code extension's manifest", () => {
  const dir = path.join(root, "editors", "vscode");
  const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
    main: string;
    contributes: {
      languages: { id: string; extensions: string[]; configuration: string }[];
      grammars: { language: string; scopeName: string; path: string }[];
    };
    dependencies: Record<string, string>;
  };

  it("declares the language, this grammar and a language configuration that fits the lexer", () => {
    const [language] = manifest.contributes.languages;
    expect(language).toMatchObject({ id: "csn", extensions: [".csn"] });
    const [g] = manifest.contributes.grammars;
    expect(g).toMatchObject({ language: "csn", scopeName: "source.csn" });
    expect(path.resolve(dir, g!.path)).toBe(grammarFile);
    const config = JSON.parse(readFileSync(path.resolve(dir, language!.configuration), "utf8")) as {
      comments: { lineComment: string };
      brackets: string[][];
      indentationRules: { increaseIndentPattern: string; decreaseIndentPattern: string };
    };
    expect(config.comments.lineComment).toBe("#");
    expect(config.brackets).toEqual([
      ["{", "}"],
      ["(", ")"],
    ]);
    const increase = new RegExp(config.indentationRules.increaseIndentPattern);
    expect(increase.test("block b(c: int) {")).toBe(true);
    expect(increase.test("  stage stem { stem(width) }  # one line")).toBe(false);
    expect(new RegExp(config.indentationRules.decreaseIndentPattern).test("  } else {")).toBe(true);
  });

  it("starts csnc's server through vscode-languageclient", () => {
    expect(manifest.dependencies).toHaveProperty("vscode-languageclient");
    const source = readFileSync(path.join(dir, "src", "extension.ts"), "utf8");
    expect(source).toContain('"lsp", "--stdio"');
    expect(source).toContain("vscode-languageclient/node");
    expect(manifest.main).toBe("./out/extension.js");
  });
});
