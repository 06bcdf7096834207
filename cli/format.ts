// Text rendering helpers for the CLI: human units and aligned tables.
export { bytesText } from "../runtime/units.js";

/**
 * 29552144 -> "29.55 M", 96713211904 -> "96.71 G"; small numbers stay exact, counts past the
 * units (1e21 and up) print in exponent form so that a table column stays narrow.
 */
export function human(n: number): string {
  const units: [number, string][] = [
    [1e18, "E"],
    [1e15, "P"],
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "K"],
  ];
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1e21) return n.toExponential(2);
  for (const [scale, unit] of units)
    if (Math.abs(n) >= scale) return `${(n / scale).toFixed(2)} ${unit}`;
  return String(n);
}

export interface Column {
  readonly title: string;
  readonly align?: "left" | "right";
}

/** Columns by title: the `left` ones aligned left (names), then the `right` ones (numbers). */
export function columns(left: readonly string[], right: readonly string[]): Column[] {
  return [
    ...left.map((title) => ({ title })),
    ...right.map((title) => ({ title, align: "right" as const })),
  ];
}

/** An aligned table with a header rule; `null` rows become separator rules. */
export function table(
  columns: readonly Column[],
  rows: readonly (readonly string[] | null)[],
): string {
  // A fold, not Math.max(...rows): a spread of 190 000 rows overflows the stack.
  const widths = columns.map((c, i) =>
    rows.reduce((w, r) => Math.max(w, r ? r[i]!.length : 0), c.title.length),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) =>
        columns[i]!.align === "right" ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!),
      )
      .join("  ")
      .trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [line(columns.map((c) => c.title)), rule, ...rows.map((r) => (r ? line(r) : rule))].join(
    "\n",
  );
}
