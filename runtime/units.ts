// Byte counts for messages, in binary units. Runtime-side, since generated modules bundle the
// runtime and must not carry compiler code.

const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/** `n` bytes in the largest unit it reaches, from units[from] to units[to]. */
function scaled(n: number, from = 0, to = units.length - 1): [number, string] {
  let i = 0;
  for (; i < to && (n >= 1024 || i < from); i++) n /= 1024;
  return [n, units[i]!];
}

/** 14112 -> "13.78 KiB"; under 1 KiB, "812 B". */
export function bytesText(n: number): string {
  const [value, unit] = scaled(n);
  return unit === "B" ? `${value} B` : `${value.toFixed(2)} ${unit}`;
}

/** Round figures for sentences: "65536 bytes" under 1 MiB, then "512 MiB", "1.5 GiB", "2048 GiB". */
export function roundBytesText(n: number): string {
  if (n < 2 ** 20) return `${n} bytes`;
  const [value, unit] = scaled(n, 2, 3);
  return `${+value.toFixed(1)} ${unit}`;
}
