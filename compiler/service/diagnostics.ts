// The check's diagnostics as an editor shows them on one file: those of the file at their
// place, those of a file it imports on the import line that leads there (with the real place
// as related information), the call chain of each as related locations.
import { lineCol, type Diagnostic } from "../../grammar/index.js";
import { textOf, type Analysis } from "./project.js";

export interface Related {
  readonly file: string;
  readonly start: number;
  readonly end: number;
  readonly message: string;
}

export interface FileDiagnostic {
  readonly start: number;
  readonly end: number;
  readonly code: number;
  readonly message: string;
  readonly hint?: string;
  readonly severity: Diagnostic["severity"];
  readonly related: readonly Related[];
}

/** Where a place of another file is, in words: `lib/blocks.csn:31:7`. */
function where(a: Analysis, file: string, offset: number, shown: (f: string) => string): string {
  const { line, col } = lineCol(textOf(a, file), offset);
  return `${shown(file)}:${line}:${col}`;
}

/** The diagnostics to show on the analysed file; `shown` names other files in messages. */
export function fileDiagnostics(a: Analysis, shown: (file: string) => string): FileDiagnostic[] {
  const out: FileDiagnostic[] = [];
  for (const d of a.check.diagnostics) {
    const related: Related[] = d.notes
      .filter((n) => n.span)
      .map((n) => ({
        file: n.span!.file,
        start: n.span!.start,
        end: n.span!.end,
        message: n.message,
      }));
    const base = { code: d.code, hint: d.hint, severity: d.severity };
    const span = d.span;
    if (!span || span.file === a.file) {
      out.push({
        ...base,
        start: span?.start ?? 0,
        end: span?.end ?? 0,
        message: d.message,
        related,
      });
      continue;
    }
    const imp = [...a.reach].find(([, files]) => files.has(span.file))?.[0];
    const at = imp?.span ?? { start: 0, end: 0 };
    out.push({
      ...base,
      start: at.start,
      end: at.end,
      message: `${where(a, span.file, span.start, shown)}: ${d.message}`,
      related: [
        { file: span.file, start: span.start, end: span.end, message: d.message },
        ...related,
      ],
    });
  }
  return out;
}
