// Diagnostics are data: a code, a message, a span, related notes and an optional fix hint.
// Every stage returns them; only `formatDiagnostic` turns them into text.
import type { Span } from "./ast.js";
import { Codes } from "./codes.js";
import { clip, maxMessageChars } from "./text.js";

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
