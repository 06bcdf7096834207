// An independent count of params, MACs and channel interactions for the ResNet3D / CSN family,
// written from the architecture table in shared/reference/csn.md without the .csn language.
// Tests compare csnc's stats against it for depths, widths and inputs no one published.

export type Mode = "ir" | "ip" | "resnet";
export interface Arch {
  mode: Mode;
  blocks: [number, number, number, number];
  width: number;
  /** 4 for depth >= 50; 1 for VMZ's depth 26 (inner width = output width). */
  expansion: number;
  classes: number;
  input: [number, number, number, number]; // C, T, H, W
  batch?: number;
}
export interface Counts {
  params: number;
  bnParams: number;
  macs: number;
  interactions: number;
}

const out = (size: number, k: number, s: number, p: number) =>
  Math.floor((size + 2 * p - k) / s) + 1;

export function countArch(a: Arch): Counts {
  const n = a.batch ?? 1;
  const c: Counts = { params: 0, bnParams: 0, macs: 0, interactions: 0 };
  let [ch, t, h, w] = a.input;
  const conv = (
    cout: number,
    k: [number, number, number],
    s: [number, number, number],
    groups = 1,
  ) => {
    const p = k.map((x) => Math.floor(x / 2));
    const to = out(t, k[0], s[0], p[0]!);
    const ho = out(h, k[1], s[1], p[1]!);
    const wo = out(w, k[2], s[2], p[2]!);
    const cin = ch / groups;
    const weights = cout * cin * k[0] * k[1] * k[2];
    c.params += weights;
    c.macs += weights * to * ho * wo * n;
    c.interactions += (cout * cin * (cin - 1)) / 2;
    return { cout, to, ho, wo };
  };
  const apply = (r: { cout: number; to: number; ho: number; wo: number }) => {
    [ch, t, h, w] = [r.cout, r.to, r.ho, r.wo];
    c.bnParams += 2 * ch; // every conv here is followed by a BN
  };
  apply(conv(a.width, [3, 7, 7], [1, 2, 2]));
  h = out(h, 3, 2, 1);
  w = out(w, 3, 2, 1);
  a.blocks.forEach((count, stage) => {
    const outCh = a.width * 2 ** stage * a.expansion;
    const inner = outCh / a.expansion;
    for (let i = 0; i < count; i++) {
      const s = stage > 0 && i === 0 ? 2 : 1;
      const before = { ch, t, h, w };
      apply(conv(inner, [1, 1, 1], [1, 1, 1]));
      if (a.mode === "ip") apply(conv(inner, [1, 1, 1], [1, 1, 1]));
      if (a.mode === "resnet") apply(conv(inner, [3, 3, 3], [s, s, s]));
      else apply(conv(inner, [3, 3, 3], [s, s, s], inner));
      apply(conv(outCh, [1, 1, 1], [1, 1, 1]));
      if (before.ch !== outCh || s !== 1) {
        const after = { ch, t, h, w };
        [ch, t, h, w] = [before.ch, before.t, before.h, before.w];
        apply(conv(outCh, [1, 1, 1], [s, s, s]));
        [ch, t, h, w] = [after.ch, after.t, after.h, after.w];
      }
    }
  });
  c.params += ch * a.classes + a.classes;
  c.macs += ch * a.classes * n;
  return c;
}
