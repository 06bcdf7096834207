// `csnc fmt`'s formatter: a file's text in, its canonical layout out (format-layout.ts), every
// comment kept. Only a file that parses is formatted; one with errors gets them back, so a
// half-typed line is never rearranged into something else.
import type { Program, Statement } from "./ast.js";
import type { Diagnostic } from "./diagnostics.js";
import { formatItems } from "./format-items.js";
import { layout } from "./format-layout.js";
import { parse } from "./index.js";

export interface FormatResult {
  /** The formatted text; absent when the file has errors. */
  readonly text?: string;
  readonly diagnostics: readonly Diagnostic[];
}

/** Formats the text of one .csn file; `file` names it in diagnostics. Never throws. */
export function formatSource(text: string, file: string): FormatResult {
  const parsed = parse(text, file);
  if (!parsed.program) return { diagnostics: parsed.diagnostics };
  return { text: layout(formatItems(text), statementStarts(parsed.program)), diagnostics: [] };
}

// Where each statement of each body starts; explicit stack, as bodies nest deeply.
function statementStarts(program: Program): Set<number> {
  const starts = new Set<number>();
  const todo: (readonly Statement[])[] = [...program.blocks, ...program.models].map((d) => d.body);
  while (todo.length > 0) {
    for (const s of todo.pop()!) {
      starts.add(s.span.start);
      if (s.kind === "stage" || s.kind === "repeat") todo.push(s.body);
      else if (s.kind === "if") todo.push(s.then, s.otherwise);
      else if (s.kind === "residual") {
        todo.push(s.body);
        if (s.shortcut) todo.push(s.shortcut);
      }
    }
  }
  return starts;
}
