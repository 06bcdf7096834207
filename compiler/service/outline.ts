// The file's outline (models, blocks and their stages) and its semantic tokens: each word
// classified by what it is (a block, a layer, a parameter, a label, a type, an enum member).
import type { IToken } from "chevrotain";
import type { BlockDecl, Statement } from "../../grammar/index.js";
import { lookupLayer } from "../layers.js";
import type { Analysis } from "./project.js";
import { bodiesOf, declarations, visitDecl } from "./syntax.js";

export interface OutlineSymbol {
  readonly name: string;
  readonly kind: "model" | "block" | "stage";
  readonly detail?: string;
  readonly start: number;
  readonly end: number;
  readonly nameStart: number;
  readonly nameEnd: number;
  readonly children: readonly OutlineSymbol[];
}

function stages(body: readonly Statement[], text: string): OutlineSymbol[] {
  const out: OutlineSymbol[] = [];
  for (const s of body) {
    if (s.kind === "stage") {
      const at = text.indexOf(s.name, s.span.start + "stage".length);
      out.push({
        name: s.name,
        kind: "stage",
        start: s.span.start,
        end: s.span.end,
        nameStart: at < 0 ? s.span.start : at,
        nameEnd: at < 0 ? s.span.start : at + s.name.length,
        children: stages(s.body, text),
      });
    } else for (const b of bodiesOf(s)) out.push(...stages(b, text));
  }
  return out;
}

export function outline(a: Analysis): OutlineSymbol[] {
  return declarations(a.syntax.program).map((d: BlockDecl) => ({
    name: d.name,
    kind: d.kind,
    detail: `(${d.params.map((p) => p.name).join(", ")})`,
    start: d.span.start,
    end: d.span.end,
    nameStart: d.nameSpan.start,
    nameEnd: d.nameSpan.end,
    children: stages(d.body, a.text),
  }));
}

/** The semantic token types, in the legend's order. */
export const tokenTypes = [
  "keyword",
  "function",
  "parameter",
  "variable",
  "type",
  "enumMember",
  "property",
  "number",
  "string",
  "operator",
] as const;
export const tokenModifiers = ["declaration", "defaultLibrary"] as const;

export interface SemanticToken {
  readonly start: number;
  readonly length: number;
  readonly type: (typeof tokenTypes)[number];
  readonly modifiers: readonly (typeof tokenModifiers)[number][];
}

const literalTypes: Record<string, SemanticToken["type"]> = {
  IntegerLiteral: "number",
  FloatLiteral: "number",
  DimsLiteral: "number",
  StringLiteral: "string",
};

/** Every token of the file, classified; words the AST does not explain are left to the grammar. */
export function semanticTokens(a: Analysis): SemanticToken[] {
  const words = new Map<number, Omit<SemanticToken, "start">>();
  const mark = (
    start: number,
    length: number,
    type: SemanticToken["type"],
    ...modifiers: SemanticToken["modifiers"][number][]
  ) => words.set(start, { length, type, modifiers });
  for (const d of declarations(a.syntax.program)) {
    mark(d.nameSpan.start, d.name.length, "function", "declaration");
    for (const p of d.params) {
      mark(p.span.start, p.name.length, "parameter", "declaration");
      if (p.type?.kind === "named") mark(p.type.span.start, p.type.name.length, "type");
      else if (p.type?.kind === "enum") {
        let at = p.type.span.start;
        for (const m of p.type.members) {
          at = a.text.indexOf(m, at);
          if (at < 0) break;
          mark(at, m.length, "enumMember", "declaration");
          at += m.length;
        }
      }
    }
    visitDecl(d, a.text, {
      name: (e, b) =>
        mark(
          e.span.start,
          e.name.length,
          b ? (b.kind === "param" ? "parameter" : "variable") : "enumMember",
        ),
      call: (s) => {
        if (s.kind !== "call") return;
        if (s.label !== undefined) mark(s.span.start, s.label.length, "property", "declaration");
        const layer = lookupLayer(s.callee) !== undefined;
        if (layer) mark(s.calleeSpan.start, s.callee.length, "function", "defaultLibrary");
        else mark(s.calleeSpan.start, s.callee.length, "function");
        for (const arg of s.args) if (arg.name) mark(arg.span.start, arg.name.length, "parameter");
      },
    });
  }
  const out: SemanticToken[] = [];
  for (const t of a.syntax.tokens as IToken[]) {
    const known = words.get(t.startOffset);
    const literal = literalTypes[t.tokenType.name];
    if (known) out.push({ start: t.startOffset, ...known });
    else if (literal)
      out.push({ start: t.startOffset, length: t.image.length, type: literal, modifiers: [] });
    else if (/^[a-z]+$/.test(t.image) && t.tokenType.name !== "Identifier")
      out.push({
        start: t.startOffset,
        length: t.image.length,
        type: t.tokenType.name === "Times" ? "operator" : "keyword",
        modifiers: [],
      });
  }
  return out;
}
