// Completion at a cursor, also inside a line that does not parse yet: chevrotain's content
// assist says which tokens the grammar allows next and in which rules; the words offered come
// from the layer table, the blocks in scope, the called layer's or block's parameters, the
// enumerations and the names visible at the cursor.
import type { IToken } from "chevrotain";
import { nextTokens } from "../../grammar/recover.js";
import { allTokens } from "../../grammar/tokens.js";
import { builtinFunctions } from "../layers.js";
import { typeNames } from "../values.js";
import { callContext, calleeSignature, isFunction, tokensBefore } from "./calls.js";
import { blockSignature, layerSignature, layerWords, type ParamInfo } from "./describe.js";
import { textOf, type Analysis } from "./project.js";
import { declAt, scopeAt } from "./syntax.js";

export type CompletionKind =
  | "layer"
  | "block"
  | "keyword"
  | "argument"
  | "enum"
  | "type"
  | "function"
  | "variable"
  | "parameter";

export interface Completion {
  readonly label: string;
  readonly kind: CompletionKind;
  readonly detail?: string;
  readonly doc?: string;
  /** Text to insert where it differs from the label (`stride = `). */
  readonly insert?: string;
  /** Offered first. */
  readonly preferred?: boolean;
}

const keywordOf = new Map(
  allTokens
    .filter(
      (t) => typeof t.PATTERN === "string" && /^[a-z]+$/.test(t.PATTERN) && t.name !== "Times",
    )
    .map((t) => [t.name, t.PATTERN as string]),
);

// Whether the cursor is in a comment or a string, where nothing is offered.
function inCommentOrString(text: string, offset: number): boolean {
  const line = text.slice(text.lastIndexOf("\n", offset - 1) + 1, offset);
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    if (line[i] === "\\" && quoted) i++;
    else if (line[i] === '"') quoted = !quoted;
    else if (line[i] === "#" && !quoted) return true;
  }
  return quoted;
}

/**
 * Content assist walks the grammar over every token it is given: a declaration longer than
 * this (no real one comes close; garbage might) gets no completion rather than a stall.
 */
const maxAssistTokens = 5000;

// The tokens of the top-level declaration the cursor is in, up to the cursor.
function declarationTokens(before: readonly IToken[]): IToken[] {
  let depth = 0;
  let start = 0;
  for (let i = 0; i < before.length; i++) {
    const k = before[i]!.tokenType.name;
    if (k === "LBrace") depth++;
    else if (k === "RBrace") depth = Math.max(0, depth - 1);
    else if (depth === 0 && (k === "Block" || k === "Model" || k === "Import")) start = i;
  }
  return before.slice(start);
}

/** What to offer at `offset` of the analysed file. */
export function complete(a: Analysis, offset: number): Completion[] {
  if (inCommentOrString(a.text, offset)) return [];
  const before = tokensBefore(a.syntax.tokens, offset);
  const declaration = declarationTokens(before);
  if (declaration.length > maxAssistTokens) return [];
  const next = nextTokens(declaration);
  const out: Completion[] = [];
  const seen = new Set<string>();
  const add = (c: Completion) => {
    if (seen.has(c.label)) return;
    seen.add(c.label);
    out.push(c);
  };
  const call = callContext(before);
  for (const n of next) {
    const word = keywordOf.get(n.token);
    // `shortcut =` names residual's argument; in other calls it is no word to offer.
    if (word === "shortcut" && n.rules.at(-1) === "arg" && call?.callee !== "residual") continue;
    if (word) add({ label: word, kind: "keyword" });
  }
  const ident = next.filter((n) => n.token === "Identifier");
  const inRule = (rule: string) => ident.some((n) => n.rules.includes(rule));
  const statementWord = ident.some((n) => n.rules.at(-1) === "callStmt");
  if (statementWord) {
    for (const word of layerWords()) {
      const sig = layerSignature(word)!;
      add({ label: word, kind: "layer", detail: sig.label, doc: sig.doc });
    }
    for (const [name, decl] of a.blocks) {
      const sig = blockSignature(decl, textOf(a, decl.span.file));
      add({ label: name, kind: "block", detail: sig.label, doc: sig.doc });
    }
  }
  if (inRule("typeExpr")) for (const t of typeNames) add({ label: t, kind: "type" });
  const sig = call && !isFunction(call.callee) ? calleeSignature(a, call.callee) : undefined;
  let expected: ParamInfo | undefined;
  if (sig && call) {
    expected = call.named
      ? sig.params.find((p) => p.name === call.named)
      : call.given.length === 0
        ? sig.params[call.index]
        : undefined;
    if (call.atArgStart && inRule("arg"))
      for (const p of sig.params.slice(call.positional))
        if (!call.given.includes(p.name))
          add({
            label: `${p.name} =`,
            kind: "argument",
            insert: `${p.name} = `,
            detail: p.label,
            doc: p.doc,
          });
  }
  if (inRule("primary")) {
    // Members of the expected enumeration first: `mode = |`, or `mode == |`.
    const prev = before.at(-1);
    const compared =
      prev && (prev.tokenType.name === "EqEq" || prev.tokenType.name === "NotEq")
        ? before.at(-2)?.image
        : undefined;
    const decl = declAt(a.syntax.program, offset);
    const scope = decl ? scopeAt(decl, a.text, offset) : new Map();
    const comparedParam = compared === undefined ? undefined : scope.get(compared);
    const members =
      expected?.type.includes("|") === true
        ? expected.type.split(" | ")
        : comparedParam?.kind === "param" && comparedParam.param.type?.kind === "enum"
          ? comparedParam.param.type.members
          : [];
    for (const m of members) add({ label: m, kind: "enum", preferred: true });
    for (const [name, b] of scope) {
      const detail =
        b.kind === "param"
          ? textOf(a, b.param.span.file).slice(b.param.span.start, b.param.span.end)
          : b.kind === "let"
            ? "let"
            : "repeat index";
      add({ label: name, kind: b.kind === "param" ? "parameter" : "variable", detail });
    }
    for (const f of Object.keys(builtinFunctions)) add({ label: f, kind: "function" });
    for (const d of decl?.params ?? [])
      if (d.type?.kind === "enum") for (const m of d.type.members) add({ label: m, kind: "enum" });
  }
  return out;
}
