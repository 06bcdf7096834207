// Diagnostics are data: a code, a message, a span, related notes and an optional fix hint.
// Every stage returns them; only `formatDiagnostic` turns them into text.
import type { Span } from "./ast.js";

/**
 * The catalog of diagnostic codes, numbered by stage: 1xxx syntax, 2xxx names and types,
 * 3xxx shapes, 4xxx weights and devices, 5xxx command-line input.
 */
export const Codes = {
  lexError: 1001,
  syntaxError: 1002,
  importNotFound: 1101,
  importOutsideProject: 1102,
  importCycle: 1103,
  duplicateName: 2001,
  unknownName: 2002,
  unknownLayer: 2003,
  unknownParam: 2004,
  missingArgument: 2005,
  duplicateArgument: 2006,
  tooManyArguments: 2007,
  typeMismatch: 2008,
  badValue: 2009,
  recursion: 2010,
  noModel: 2011,
  unknownType: 2012,
  tooLarge: 2013,
  missingInput: 2014,
  channelMismatch: 3001,
  groupsDontDivide: 3002,
  residualMismatch: 3003,
  windowTooLarge: 3004,
  dimensionZero: 3005,
  badRank: 3006,
  usage: 5001,
} as const;

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
}

export function error(
  code: number,
  message: string,
  span?: Span,
  extra: Partial<Pick<Diagnostic, "notes" | "hint">> = {},
): Diagnostic {
  return { code, severity: "error", message, span, notes: extra.notes ?? [], hint: extra.hint };
}

/** Line and column (both 1-based) of an offset. */
export function lineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  const end = Math.min(offset, text.length);
  for (let i = 0; i < end; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, col: end - lineStart + 1 };
}

/** Source texts by file name, to render positions and caret lines. */
export type Sources = ReadonlyMap<string, string>;

function location(span: Span, sources: Sources): string {
  const text = sources.get(span.file);
  if (text === undefined) return span.file;
  const { line, col } = lineCol(text, span.start);
  return `${span.file}:${line}:${col}`;
}

/** The source line of a span with a caret run underneath it. */
function caret(span: Span, sources: Sources): string[] {
  const text = sources.get(span.file);
  if (text === undefined) return [];
  const start = Math.min(span.start, text.length);
  const lineStart = text.lastIndexOf("\n", start - 1) + 1;
  let lineEnd = text.indexOf("\n", start);
  if (lineEnd < 0) lineEnd = text.length;
  const lineText = text.slice(lineStart, lineEnd).replace(/\r$/, "");
  const width = Math.max(1, Math.min(span.end, lineEnd) - start);
  const pad = lineText.slice(0, start - lineStart).replace(/[^\t]/g, " ");
  return [`  ${lineText}`, `  ${pad}${"^".repeat(width)}`];
}

/** `path:line:col: error: message`, the source line with a caret, notes and hint. */
export function formatDiagnostic(d: Diagnostic, sources: Sources): string {
  const where = d.span ? `${location(d.span, sources)}: ` : "";
  const lines = [`${where}${d.severity}: ${d.message} [CSN${d.code}]`];
  if (d.span) lines.push(...caret(d.span, sources));
  for (const note of d.notes) {
    lines.push(
      note.span
        ? `  ${location(note.span, sources)}: note: ${note.message}`
        : `  note: ${note.message}`,
    );
  }
  if (d.hint) lines.push(`  hint: ${d.hint}`);
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
    message: d.message,
    location: pos(d.span),
    notes: d.notes.map((n) => ({ message: n.message, location: pos(n.span) })),
    hint: d.hint,
  };
}

/** Edit distance with adjacent transpositions (optimal string alignment), for "did you mean". */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [
    i,
    ...Array<number>(b.length).fill(0),
  ]);
  for (let j = 0; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate to `name`, if one is close enough to be a plausible typo. */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(name.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.max(1, Math.floor(name.length / 3));
  return bestDistance <= limit ? best : undefined;
}

export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const c = closest(name, candidates);
  return c === undefined ? undefined : `did you mean '${c}'?`;
}
