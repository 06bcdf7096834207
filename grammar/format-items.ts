// The formatter's input: a file's tokens and its comments in text order, each with the number of
// line breaks before it. The lexer skips comments; every gap between two tokens holds only
// white space and comments, so a `#` in a gap always starts one.
import type { IToken } from "chevrotain";
import { csnLexer } from "./tokens.js";
import { tokenEnd, tokenStart } from "./to-ast.js";

export interface Item {
  /** A token's type name (`Identifier`, `LBrace`, ...) or `Comment`. */
  readonly kind: string;
  readonly image: string;
  readonly start: number;
  /** Line breaks between the previous item (or the file's start) and this one. */
  readonly breaks: number;
}

function countBreaks(text: string, from: number, to: number): number {
  let n = 0;
  for (let i = text.indexOf("\n", from); i >= 0 && i < to; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/** Tokens and comments of `text`, which must lex without errors. */
export function formatItems(text: string): Item[] {
  const tokens: IToken[] = csnLexer.tokenize(text).tokens;
  const items: Item[] = [];
  let last = 0;
  const gap = (to: number) => {
    for (let i = text.indexOf("#", last); i >= 0 && i < to; i = text.indexOf("#", i + 1)) {
      let end = i;
      while (end < to && text[end] !== "\n" && text[end] !== "\r") end++;
      // Trailing blanks of a comment are layout, not content.
      items.push({
        kind: "Comment",
        image: text.slice(i, end).trimEnd(),
        start: i,
        breaks: countBreaks(text, last, i),
      });
      last = end;
      i = end - 1;
    }
  };
  for (const t of tokens) {
    const start = tokenStart(t);
    gap(start);
    items.push({
      kind: t.tokenType.name,
      image: t.image,
      start,
      breaks: countBreaks(text, last, start),
    });
    last = tokenEnd(t);
  }
  gap(text.length);
  return items;
}
