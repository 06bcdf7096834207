// Byte counts for messages, in binary units: 14112 -> "13.78 KiB". Runtime-side, since generated
// modules bundle the runtime and must not carry compiler code.

export function bytesText(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
  let unit = "B";
  for (let i = 0; i < units.length && n >= 1024; i++) {
    n /= 1024;
    unit = units[i]!;
  }
  return unit === "B" ? `${n} B` : `${n.toFixed(2)} ${unit}`;
}
