// Diagnostics as text and as JSON: positions resolved to lines and columns, the source line
// shown with a caret under the span.
import type { Span } from "./ast.js";
import type { Diagnostic } from "./diagnostics.js";
import { clip, printable } from "./text.js";

// Offsets where each line starts, per text: positions of many layers (stats) and diagnostics
// are looked up by binary search instead of a scan from the file's start each time.
const lineIndex: { text: string; starts: number[] }[] = [];
function lineStarts(text: string): number[] {
  const hit = lineIndex.find((e) => e.text === text);
  if (hit) return hit.starts;
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  lineIndex.unshift({ text, starts });
  if (lineIndex.length > 8) lineIndex.pop();
  return starts;
}

/** The 0-based line holding `offset` and that line's start. */
function lineOf(text: string, offset: number): { index: number; start: number } {
  const starts = lineStarts(text);
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { index: lo, start: starts[lo]! };
}

/** Line and column (both 1-based) of an offset. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  const end = Math.min(Math.max(offset, 0), text.length);
  const { index, start } = lineOf(text, end);
  return { line: index + 1, col: end - start + 1 };
}

/** Source lines are shown up to this many columns, with `…` where cut. */
const maxLineColumns = 200;
const contextColumns = 60;

/** Texts by file name, to render positions and caret lines. */
export type Sources = ReadonlyMap<string, string>;

function location(span: Span, sources: Sources): string {
  const file = printable(clip(span.file));
  const text = sources.get(span.file);
  if (text === undefined) return file;
  const { line, col } = lineCol(text, span.start);
  return `${file}:${line}:${col}`;
}

/** The source line of a span with a caret run underneath it, escaped and cut to fit. */
function caret(span: Span, sources: Sources): string[] {
  const text = sources.get(span.file);
  if (text === undefined) return [];
  const start = Math.min(span.start, text.length);
  const { index, start: lineStart } = lineOf(text, start);
  const starts = lineStarts(text);
  let lineEnd = index + 1 < starts.length ? starts[index + 1]! - 1 : text.length;
  if (lineEnd > lineStart && text.charCodeAt(lineEnd - 1) === 13) lineEnd--;
  const caretEnd = Math.max(start + 1, Math.min(span.end, lineEnd));
  // One piece per code point: how it is shown and how many columns it takes.
  const piece = (i: number): { shown: string; length: number } => {
    const code = text.codePointAt(i)!;
    const length = code > 0xffff ? 2 : 1;
    const ch = text.slice(i, i + length);
    if (ch === "\t") return { shown: ch, length };
    const shown = printable(ch);
    return { shown, length };
  };
  const columns = (shown: string) => (shown === "\t" ? 1 : [...shown].length);
  // Window: the whole line if it fits, else up to `contextColumns` before the span and as
  // much after as fits.
  const fits =
    lineEnd - lineStart <= maxLineColumns &&
    [...printable(text.slice(lineStart, lineEnd))].length <= maxLineColumns;
  let from = fits ? lineStart : start;
  for (let used = 0; from > lineStart;) {
    const prev = from - (from - 2 >= lineStart && /[\udc00-\udfff]/.test(text[from - 1]!) ? 2 : 1);
    used += columns(piece(prev).shown);
    if (used > contextColumns) break;
    from = prev;
  }
  let line = from > lineStart ? "…" : "";
  let pad = from > lineStart ? " " : "";
  let marks = 0;
  let used = line.length;
  let i = from;
  while (i < lineEnd) {
    const p = piece(i);
    const width = columns(p.shown);
    if (used + width > maxLineColumns) break;
    line += p.shown;
    used += width;
    if (i < start) pad += p.shown === "\t" ? "\t" : " ".repeat(width);
    else if (i < caretEnd) marks += width;
    i += p.length;
  }
  if (i < lineEnd) line += "…";
  return [`  ${line}`, `  ${pad}${"^".repeat(Math.max(1, marks))}`];
}

/** `path:line:col: error: message`, the source line with a caret, notes and hint. */
export function formatDiagnostic(d: Diagnostic, sources: Sources): string {
  const where = d.span ? `${location(d.span, sources)}: ` : "";
  const lines = [`${where}${d.severity}: ${printable(clip(d.message))} [CSN${d.code}]`];
  if (d.span) lines.push(...caret(d.span, sources));
  for (const note of d.notes) {
    lines.push(
      note.span
        ? `  ${location(note.span, sources)}: note: ${printable(clip(note.message))}`
        : `  note: ${printable(clip(note.message))}`,
    );
  }
  if (d.hint) lines.push(`  hint: ${printable(clip(d.hint))}`);
  return lines.join("\n");
}

/** A JSON-friendly form with positions resolved, for `--json`. */
export function diagnosticToJson(d: Diagnostic, sources: Sources): object {
  const pos = (span?: Span) => {
    if (!span) return undefined;
    const text = sources.get(span.file);
    const at = text === undefined ? undefined : lineCol(text, span.start);
    return { file: span.file, line: at?.line, col: at?.col, start: span.start, end: span.end };
  };
  return {
    code: `CSN${d.code}`,
    severity: d.severity,
    message: clip(d.message),
    location: pos(d.span),
    notes: d.notes.map((n) => ({ message: clip(n.message), location: pos(n.span) })),
    hint: d.hint === undefined ? undefined : clip(d.hint),
  };
}
