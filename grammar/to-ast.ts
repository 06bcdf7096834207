// AST construction for the parser's actions: spans from tokens, literals, operator chains.
// The parser builds the AST as it goes instead of a concrete syntax tree first, which would
// take several times the memory of the AST for a large file. Under error recovery (or while
// chevrotain records the grammar) the parts may be missing or placeholders; these helpers
// never throw on them, and a tree built from them is dropped, since the file had errors.
import type { IToken } from "chevrotain";
import type * as A from "./ast.js";

type Part = { readonly span?: A.Span } | undefined;

// Offsets stay small integers (`| 0`): one NaN, or one integer that arrives boxed (chevrotain's
// EOF token has NaN offsets, so token offsets may be stored as doubles), in any span would make
// V8 store the offsets of every span as boxed doubles, 32 bytes more per node.
export function tokenStart(t: IToken): number {
  return Number.isInteger(t.startOffset) ? t.startOffset | 0 : -1;
}

/** End offset (exclusive) of a token; tokens carry only their start. */
export function tokenEnd(t: IToken): number {
  return tokenStart(t) + t.image.length;
}

export function tokenSpan(file: string, t: IToken): A.Span {
  return { file, start: tokenStart(t), end: tokenEnd(t) };
}

/** `left op right`, spanning both operands. */
export function binary(file: string, op: string, left: A.Expr, right: A.Expr): A.Expr {
  const l: Part = left;
  const r: Part = right;
  return {
    kind: "binary",
    op: op as A.BinaryOp,
    left,
    right,
    span: { file, start: l?.span?.start ?? -1, end: r?.span?.end ?? -1 },
  };
}

/** `3x3x3` as a dims expression with one int per item. */
export function dimsLiteral(file: string, t: IToken): A.Expr {
  let offset = tokenStart(t);
  const items: A.Expr[] = t.image.split("x").map((part) => {
    const item: A.Expr = {
      kind: "int",
      value: Number(part),
      span: { file, start: offset, end: offset + part.length },
    };
    offset += part.length + 1;
    return item;
  });
  return { kind: "dims", items, span: tokenSpan(file, t) };
}

/** The value of a string literal (JSON's escapes), or undefined where it has others. */
export function stringValue(image: string): string | undefined {
  try {
    const v: unknown = JSON.parse(image);
    return typeof v === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}
