// Prints a check result's diagnostics: as text on stderr, or as JSON lines on stdout.
import { diagnosticToJson, formatDiagnostic } from "../grammar/index.js";
import type { CheckResult } from "../compiler/index.js";
import type { CliIo } from "./io.js";

export function reportDiagnostics(
  io: CliIo,
  r: Pick<CheckResult, "diagnostics" | "sources">,
  json: boolean | undefined,
): void {
  for (const d of r.diagnostics) {
    if (json) io.out(JSON.stringify(diagnosticToJson(d, r.sources)));
    else io.err(formatDiagnostic(d, r.sources));
  }
}
