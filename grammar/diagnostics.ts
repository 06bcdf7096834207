// Diagnostics are data: a code, a message, a span, related notes and an optional fix hint.
// Every stage returns them; only `formatDiagnostic` turns them into text.
import type { Span } from "./ast.js";
import { Codes } from "./codes.js";

export type Severity = "error" | "warning";

export interface Note {
  readonly message: string;
  readonly span?: Span;
}

export interface Diagnostic {
  readonly code: number;
  readonly severity: Severity;
  readonly message: string;
  readonly span?: Span;
  /** Related places, e.g. the block call or `repeat` that produced a failing layer. */
  readonly notes: readonly Note[];
  /** A suggested fix, printed as `hint: ...`. */
  readonly hint?: string;
  /**
   * Set on a stand-in for this many diagnostics of the span's file that were counted but not
   * built (past `maxCollectedPerFile`); `capDiagnostics` adds them to the file's surplus.
   */
  readonly omitted?: number;
}

/** Messages, notes and hints are cut to this many characters (head and tail kept). */
export const maxMessageChars = 300;

/**
 * `text` cut to `max` characters with `…` in the middle: messages quote user text (names,
 * import paths), and a 60 MB identifier must not make a 60 MB diagnostic.
 */
export function clip(text: string, max = maxMessageChars): string {
  if (text.length <= max) return text;
  const tail = Math.floor(max / 5);
  let head = max - tail - 1;
  let from = text.length - tail;
  // Do not split a surrogate pair.
  if (/[\ud800-\udbff]/.test(text[head - 1]!)) head--;
  if (/[\udc00-\udfff]/.test(text[from]!)) from++;
  return `${text.slice(0, head)}…${text.slice(from)}`;
}

/** User text for a message: at most `max` characters (default 80), terminal controls escaped. */
export function quote(text: string, max = 80): string {
  return printable(clip(text, max));
}

export function error(
  code: number,
  message: string,
  span?: Span,
  extra: Partial<Pick<Diagnostic, "notes" | "hint">> = {},
): Diagnostic {
  const notes = (extra.notes ?? []).map((n) =>
    n.message.length > maxMessageChars ? { ...n, message: clip(n.message) } : n,
  );
  const hint = extra.hint === undefined ? undefined : clip(extra.hint);
  return { code, severity: "error", message: clip(message), span, notes, hint };
}

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

// Characters a terminal would act on or hide: C0 and C1 controls (escape sequences) but tab,
// DEL, bidirectional controls, line separators, BOM, lone surrogates.
function unsafe(c: number): boolean {
  if (c < 0x20) return c !== 9;
  if (c < 0x7f) return false;
  return (
    c < 0xa0 ||
    c === 0x61c ||
    c === 0x200e ||
    c === 0x200f ||
    (c >= 0x2028 && c <= 0x202e) ||
    (c >= 0x2066 && c <= 0x2069) ||
    c === 0xfeff
  );
}

function escapeChar(code: number): string {
  return code < 0x80
    ? `\\x${code.toString(16).padStart(2, "0")}`
    : `\\u${code.toString(16).padStart(4, "0")}`;
}

/** `text` with terminal controls made visible (`\x1b`, `\u202e`); tabs stay. */
export function printable(text: string): string {
  let out = "";
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let bad = unsafe(c);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++; // a pair: one character
        continue;
      }
      bad = true;
    } else if (c >= 0xdc00 && c <= 0xdfff) bad = true;
    if (!bad) continue;
    out += text.slice(last, i) + escapeChar(c);
    last = i + 1;
  }
  return last === 0 ? text : out + text.slice(last);
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

/** At most this many diagnostics are kept per file; the rest are counted. */
export const maxDiagnosticsPerFile = 50;

/**
 * At most this many diagnostics are built per file; the rest are only counted. A file of
 * millions of unknown names must not hold millions of diagnostics (gigabytes) for 50 shown.
 */
export const maxCollectedPerFile = 1000;

/** A stand-in for `n` diagnostics of `file` counted but not built. */
export function omittedDiagnostics(file: string, n: number): Diagnostic {
  return {
    code: Codes.tooManyErrors,
    severity: "error",
    message: `and ${n} more error(s) in ${clip(file)}, not collected`,
    span: { file, start: 0, end: 0 },
    notes: [],
    omitted: n,
  };
}

/** Collects diagnostics up to `maxCollectedPerFile` per file, counting the rest. */
export class DiagnosticSink {
  private readonly list: Diagnostic[] = [];
  private readonly perFile = new Map<string, number>();
  private readonly dropped = new Map<string, number>();

  /** Whether `file` has its fill: callers may then skip building a diagnostic and `count` it. */
  full(file: string): boolean {
    return (this.perFile.get(file) ?? 0) >= maxCollectedPerFile;
  }

  /** One more diagnostic of `file`, not built. */
  count(file: string): void {
    this.dropped.set(file, (this.dropped.get(file) ?? 0) + 1);
  }

  push(d: Diagnostic): void {
    const file = d.span?.file ?? "";
    if (d.omitted !== undefined) {
      this.dropped.set(file, (this.dropped.get(file) ?? 0) + d.omitted);
      return;
    }
    if (this.full(file)) return this.count(file);
    this.perFile.set(file, (this.perFile.get(file) ?? 0) + 1);
    this.list.push(d);
  }

  get length(): number {
    return this.list.length + this.dropped.size;
  }

  /** The diagnostics built, then one stand-in per file for those only counted. */
  done(): Diagnostic[] {
    const out = [...this.list];
    for (const [file, n] of this.dropped) out.push(omittedDiagnostics(file, n));
    return out;
  }
}

/**
 * The first `maxDiagnosticsPerFile` diagnostics of each file (by the file of their span), each
 * file's surplus summed up in one closing diagnostic: garbage input makes thousands.
 */
export function capDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Map<string, number>();
  const out: Diagnostic[] = [];
  for (const d of diagnostics) {
    const file = d.span?.file ?? "";
    if (d.omitted !== undefined) {
      seen.set(file, (seen.get(file) ?? 0) + d.omitted);
      continue;
    }
    const n = (seen.get(file) ?? 0) + 1;
    seen.set(file, n);
    if (n <= maxDiagnosticsPerFile) out.push(d);
  }
  for (const [file, n] of seen) {
    if (n <= maxDiagnosticsPerFile) continue;
    const more = n - maxDiagnosticsPerFile;
    out.push(
      error(
        Codes.tooManyErrors,
        `and ${more} more error(s)${file ? ` in ${clip(file)}` : ""}, not shown (the first ${maxDiagnosticsPerFile} are)`,
        undefined,
        { hint: "fix these first; is it the right file?" },
      ),
    );
  }
  return out;
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

/**
 * Edit distance with adjacent transpositions (optimal string alignment), for "did you mean";
 * anything above `limit` comes back as `limit + 1`. Three rolling rows, stopping early once a
 * row is past the limit: a file may ask about thousands of candidates.
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  let row = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    row[0] = i;
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, before[j - 2]! + 1);
      row[j] = v;
      best = Math.min(best, v);
    }
    if (best > limit) return limit + 1;
    [before, prev, row] = [prev, row, before];
  }
  return Math.min(prev[b.length]!, limit + 1);
}

/** The closest candidate to `name`, if one is close enough to be a plausible typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    const d = editDistance(lower, c.toLowerCase(), Math.min(limit, bestDistance));
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
      if (d === 0) break;
    }
  }
  return bestDistance <= limit ? best : undefined;
}

export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const c = closest(name, candidates);
  return c === undefined ? undefined : `did you mean '${c}'?`;
}
