// Hand-written SVG line charts for the benchmarks' curves: no dependency, one <svg> of panels
// side by side, each with axes, ticks, a legend and polylines (solid or dashed).

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly (readonly [number, number])[];
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** The y range; by default the data's, padded. Points outside it are drawn at its edge. */
  readonly yMin?: number;
  readonly yMax?: number;
  /** A horizontal reference line (e.g. chance accuracy), labelled. */
  readonly reference?: { readonly y: number; readonly label: string };
}

const escape = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** About `count` round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

const label = (v: number) => (Math.abs(v) >= 1000 ? v.toFixed(0) : String(Number(v.toFixed(3))));

function panel(p: Panel, x0: number, width: number, height: number): string {
  const m = { left: 56, right: 16, top: 34, bottom: 46 };
  const w = width - m.left - m.right;
  const h = height - m.top - m.bottom;
  const xs = p.series.flatMap((s) => s.points.map((q) => q[0]));
  const ys = p.series.flatMap((s) => s.points.map((q) => q[1]));
  if (p.reference) ys.push(p.reference.y);
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, xMin + 1);
  let yMin = p.yMin ?? Math.min(...ys);
  let yMax = p.yMax ?? Math.max(...ys);
  if (p.yMin === undefined || p.yMax === undefined) {
    const pad = (yMax - yMin || 1) * 0.05;
    if (p.yMin === undefined) yMin -= pad;
    if (p.yMax === undefined) yMax += pad;
  }
  const sx = (v: number) => x0 + m.left + ((v - xMin) / (xMax - xMin)) * w;
  const sy = (v: number) =>
    m.top + h - ((Math.min(yMax, Math.max(yMin, v)) - yMin) / (yMax - yMin)) * h;
  const parts: string[] = [];
  parts.push(
    `<text x="${x0 + m.left + w / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escape(p.title)}</text>`,
  );
  for (const t of ticks(yMin, yMax, 5)) {
    parts.push(
      `<line x1="${sx(xMin)}" x2="${sx(xMax)}" y1="${sy(t)}" y2="${sy(t)}" stroke="#ddd"/>`,
      `<text x="${x0 + m.left - 6}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${label(t)}</text>`,
    );
  }
  for (const t of ticks(xMin, xMax, 6)) {
    parts.push(
      `<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.top + h}" y2="${m.top + h + 4}" stroke="#333"/>`,
      `<text x="${sx(t)}" y="${m.top + h + 17}" text-anchor="middle" font-size="11">${label(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${x0 + m.left}" y="${m.top}" width="${w}" height="${h}" fill="none" stroke="#333"/>`,
    `<text x="${x0 + m.left + w / 2}" y="${height - 8}" text-anchor="middle" font-size="12">${escape(p.xLabel)}</text>`,
    `<text x="${x0 + 14}" y="${m.top + h / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 + 14} ${m.top + h / 2})">${escape(p.yLabel)}</text>`,
  );
  if (p.reference) {
    const y = sy(p.reference.y);
    parts.push(
      `<line x1="${sx(xMin)}" x2="${sx(xMax)}" y1="${y}" y2="${y}" stroke="#999" stroke-dasharray="2 3"/>`,
      `<text x="${sx(xMax) - 4}" y="${y - 4}" text-anchor="end" font-size="10" fill="#777">${escape(p.reference.label)}</text>`,
    );
  }
  for (const s of p.series) {
    if (!s.points.length) continue;
    const pts = s.points.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ");
    parts.push(
      `<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
    );
  }
  p.series.forEach((s, i) => {
    const y = m.top + 12 + i * 16;
    const x = x0 + m.left + 10;
    parts.push(
      `<line x1="${x}" x2="${x + 24}" y1="${y}" y2="${y}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`,
      `<text x="${x + 30}" y="${y + 4}" font-size="11">${escape(s.name)}</text>`,
    );
  });
  return parts.join("\n");
}

/** Panels side by side, each `width` x `height`, under an optional caption. */
export function svgCharts(
  panels: readonly Panel[],
  o: { width?: number; height?: number; caption?: string } = {},
): string {
  const width = o.width ?? 480;
  const height = o.height ?? 340;
  const captionHeight = o.caption ? 22 : 0;
  const total = width * panels.length;
  const body = panels.map((p, i) => panel(p, i * width, width, height)).join("\n");
  const caption = o.caption
    ? `<text x="8" y="${height + 15}" font-size="11" fill="#555">${escape(o.caption)}</text>`
    : "";
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="${height + captionHeight}" viewBox="0 0 ${total} ${height + captionHeight}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
${body}
${caption}
</svg>
`;
}
