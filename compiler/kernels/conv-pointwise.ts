// 1x1x1 convolution as a GEMM: out[M, Cout] = in[M, Cin] x W[Cin, Cout], M = N*To*Ho*Wo.
// Register tiling: each invocation computes TM output rows x TN vec4 column groups, reading
// each input vec4 once per k-step and each weight vec4 once per row tile; no workgroup memory
// (barriers are slow on CPU adapters). Output rows map to (strided) input positions, so the
// projection shortcuts share the body. Weights are laid out [Cin][Cout], then the bias [Cout].
import { applyEpilogue, entry, grid, type Kernel, type KernelLimits } from "./common.js";
import type { PointwiseTile } from "./choice.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";
import {
  convKernel,
  convOperands,
  pointwiseSource,
  prod,
  storageOf,
  unsupported,
} from "./conv-spec.js";

export type { PointwiseTile };

export function canVectorise(s: ConvSpec): boolean {
  return s.cin % 4 === 0 && s.cout % 4 === 0;
}

// Register tiles, largest first. On CPU adapters (llvmpipe, SwiftShader) each invocation is
// one SIMD lane, and big tiles amortise its loads and index arithmetic: measured on llvmpipe,
// a 32x8 tile ran about 5x as fast as 4x2 (`npm run bench:kernels`, BENCHMARKS.md).
const vec4Tiles: PointwiseTile[] = [
  { rows: 32, cols: 8 },
  { rows: 16, cols: 8 },
  { rows: 32, cols: 4 },
  { rows: 16, cols: 4 },
  { rows: 8, cols: 4 },
  { rows: 8, cols: 2 },
  { rows: 4, cols: 2 },
  { rows: 4, cols: 1 },
  { rows: 2, cols: 1 },
  { rows: 1, cols: 1 },
];
const scalarTiles: PointwiseTile[] = [
  { rows: 4, cols: 1 },
  { rows: 1, cols: 1 },
];

/** The tiles this family can run for `s`, largest first: the column groups must divide evenly. */
export function pointwiseTiles(s: ConvSpec): PointwiseTile[] {
  const m = s.n * prod(s.output);
  const vec = canVectorise(s);
  const groups = vec ? s.cout / 4 : s.cout;
  return (vec ? vec4Tiles : scalarTiles).filter(
    (t) => groups % t.cols === 0 && t.rows <= Math.max(1, m),
  );
}

/** `textures`: the input and weights as textures (see texture.ts), both vec4 along channels. */
export function convPointwise(
  s: ConvSpec,
  limits: KernelLimits,
  tile: PointwiseTile,
  textures?: ConvTextures,
): Kernel {
  const vec = canVectorise(s);
  const strided = s.stride.some((x) => x !== 1);
  const name = `conv-pointwise${strided ? "-strided" : ""}${textures ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-${tile.rows}x${tile.cols}`;
  if (textures && !vec) unsupported(name, "texture inputs need channels in fours");
  const K = vec ? s.cin / 4 : s.cin;
  const N = vec ? s.cout / 4 : s.cout;
  if (N % tile.cols !== 0) unsupported(name, `${N} column groups in tiles of ${tile.cols}`);
  const [To, Ho, Wo] = s.output;
  const M = s.n * To * Ho * Wo;
  const { rows: TM, cols: TN } = tile;
  const NT = N / TN;
  const total = Math.ceil(M / TM) * NT;
  const g = grid(total, limits);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = `${t}(0.0)`;
  const { inp, wts, io, declarations, num } = convOperands(s, vec ? 4 : 1, t, N, textures);
  const rows = [...Array(TM).keys()];
  const cols = [...Array(TN).keys()];
  const lanes = vec ? [0, 1, 2, 3] : [0];
  const comp = ["x", "y", "z", "w"];
  const accumulate = rows
    .map((i) =>
      cols
        .map(
          (j) =>
            `acc${i}_${j} += ${num.widen(lanes.map((q) => (vec ? `a${i}.${comp[q]} * b${j}_${q}` : `a${i} * b${j}_${q}`)).join(" + "), vec ? 4 : 1)};`,
        )
        .join(" "),
    )
    .join("\n    ");
  const wgsl = `// ${name}: 1x1x1 conv as GEMM [M=${M}, K=${s.cin}] x [K, N=${s.cout}]${strided ? `, stride ${s.stride.join("x")}` : ""}.
// Layouts (channels-last): inp [M_in][K], wts [K][N] then bias [N], out [M][N]${vec ? ", all as vec4 along channels" : ""}${textures ? "; inp and wts as textures" : ""}.
// Invocation idx -> column group idx % ${NT} (x${TN}${vec ? " vec4" : ""}), row tile idx / ${NT} (x${TM} rows).
${declarations}
${pointwiseSource(s, inp)}
${entry(g.nx, total)}
  let n0 = i32((idx % ${NT}u) * ${TN}u);
  let m0 = (idx / ${NT}u) * ${TM}u;
  ${rows.map((i) => `let s${i} = source(min(m0 + ${i}u, ${M - 1}u));`).join("\n  ")}
  ${rows.flatMap((i) => cols.map((j) => `var acc${i}_${j} = ${zero};`)).join(" ")}
  for (var k = 0; k < ${K}; k++) {
    ${rows.map((i) => `let a${i} = ${inp.raw(`s${i}.x`, `s${i}.y`, "k")};`).join(" ")}
    ${cols
      .map((j) =>
        lanes
          .map((q) => `let b${j}_${q} = ${wts.raw(vec ? `k * 4 + ${q}` : "k", `n0 + ${j}`)};`)
          .join(" "),
      )
      .join("\n    ")}
    ${accumulate}
  }
  ${rows
    .map(
      (i) => `if (m0 + ${i}u < ${M}u) {
    ${cols
      .map(
        (j) =>
          `{ var v = acc${i}_${j}; let o = (m0 + ${i}u) * ${N}u + u32(n0) + ${j}u; ${applyEpilogue(s.epilogue, "v", wts.load(`${s.cin}`, `n0 + ${j}`), io.res("o"), zero)} ${io.store("o", "v")} }`,
      )
      .join("\n    ")}
  }`,
    )
    .join("\n  ")}
}
`;
  const choice = { family: "conv-pointwise", storage: storageOf(textures), tile } as const;
  return convKernel(s, choice, "pointwise", { name, wgsl, grid: g, textures });
}
