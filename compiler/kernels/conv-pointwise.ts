// 1x1x1 convolution as a GEMM: out[M, Cout] = in[M, Cin] x W[Cin, Cout], M = N*To*Ho*Wo.
// Register tiling: each invocation computes TM output rows x TN vec4 column groups, reading
// each input vec4 once per k-step and each weight vec4 once per row tile; no workgroup memory
// (barriers are slow on CPU adapters). Strided variant for projection shortcuts maps output
// rows to strided input rows. Weights are laid out [Cin][Cout], then the bias [Cout].
import { applyEpilogue, entry, grid, type Kernel, type KernelLimits } from "./common.js";
import { convDeclarations, convKernel, prod, type ConvSpec } from "./conv-spec.js";
import { texel } from "./texture.js";

export interface PointwiseTile {
  readonly rows: number; // TM
  readonly cols: number; // TN, in vec4 column groups (1 in the scalar variant)
}

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

/**
 * The largest tile that still leaves `minInvocations` invocations to spread over the device:
 * few on CPU adapters, many on GPUs. Small spatial extents (res5) get small tiles: the small-M variant.
 */
export function pointwiseTile(s: ConvSpec, minInvocations = 4096, maxTileArea = 32): PointwiseTile {
  const m = s.n * prod(s.output);
  const vec = canVectorise(s);
  const groups = vec ? s.cout / 4 : s.cout;
  const fits = (vec ? vec4Tiles : scalarTiles).filter(
    (t) =>
      groups % t.cols === 0 &&
      t.rows <= Math.max(1, m) &&
      t.rows * t.cols <= Math.max(1, maxTileArea),
  );
  return (
    fits.find((t) => Math.ceil(m / t.rows) * (groups / t.cols) >= minInvocations) ??
    fits[fits.length - 1]!
  );
}

/**
 * `textures`: read the input and weights as textures (see texture.ts); the input texel of row r
 * and vec4 k is (r % W * K + k, r / W), the weight texel of k and column group n is (n, k).
 */
export function convPointwise(
  s: ConvSpec,
  limits: KernelLimits,
  tile = pointwiseTile(s),
  textures?: Kernel["textures"],
): Kernel {
  const vec = canVectorise(s);
  const tex = textures !== undefined && vec;
  const [To, Ho, Wo] = s.output;
  const [T, H, W] = s.input;
  const M = s.n * To * Ho * Wo;
  const K = vec ? s.cin / 4 : s.cin;
  const N = vec ? s.cout / 4 : s.cout;
  const { rows: TM, cols: TN } = tile;
  const NT = N / TN;
  const total = Math.ceil(M / TM) * NT;
  const g = grid(total, limits);
  const strided = s.stride.some((x) => x !== 1);
  const t = vec ? "vec4<f32>" : "f32";
  const zero = vec ? "vec4<f32>(0.0)" : "0.0";
  const rows = [...Array(TM).keys()];
  const cols = [...Array(TN).keys()];
  const inRow = strided
    ? `fn inRow(m: u32) -> u32 {
  let wo = m % ${Wo}u; let r1 = m / ${Wo}u;
  let ho = r1 % ${Ho}u; let r2 = r1 / ${Ho}u;
  let to = r2 % ${To}u; let n = r2 / ${To}u;
  return ((n * ${T}u + to * ${s.stride[0]}u) * ${H}u + ho * ${s.stride[1]}u) * ${W}u + wo * ${s.stride[2]}u;
}`
    : `fn inRow(m: u32) -> u32 { return m; }`;
  const accumulate = vec
    ? rows
        .map((i) =>
          cols
            .map(
              (j) =>
                `acc${i}_${j} += a${i}.x * b${j}_0 + a${i}.y * b${j}_1 + a${i}.z * b${j}_2 + a${i}.w * b${j}_3;`,
            )
            .join(" "),
        )
        .join("\n    ")
    : rows.map((i) => `acc${i}_0 += a${i} * b0_0;`).join(" ");
  const loadB = (j: number, q: number) =>
    tex ? texel("wts", `n0 + ${j}`, `k * 4 + ${q}`) : `wts[wb + ${q * N + j}u]`;
  const loadsB = vec
    ? cols
        .map((j) => [0, 1, 2, 3].map((q) => `let b${j}_${q} = ${loadB(j, q)};`).join(" "))
        .join("\n    ")
    : `let b0_0 = wts[wb];`;
  const rowSetup = (i: number) =>
    tex
      ? `let r${i} = inRow(min(m0 + ${i}u, ${M - 1}u)); let ax${i} = i32(r${i} % ${W}u) * ${K}; let ay${i} = i32(r${i} / ${W}u);`
      : `let a${i}base = inRow(min(m0 + ${i}u, ${M - 1}u)) * ${K}u;`;
  const loadA = (i: number) => (tex ? texel("inp", `ax${i} + k`, `ay${i}`) : `inp[a${i}base + k]`);
  const bias = (j: number) =>
    tex ? texel("wts", `n0 + ${j}`, `${s.cin}`) : `wts[${s.cin * N}u + n0 + ${j}u]`;
  const name = `conv-pointwise${strided ? "-strided" : ""}${tex ? "-tex" : ""}-${vec ? "vec4" : "scalar"}-${TM}x${TN}`;
  const wgsl = `// ${name}: 1x1x1 conv as GEMM [M=${M}, K=${s.cin}] x [K, N=${s.cout}]${strided ? `, stride ${s.stride.join("x")}` : ""}.
// Layouts (channels-last): inp [M_in][K], wts [K][N] then bias [N], out [M][N]${vec ? ", all as vec4 along channels" : ""}${tex ? "; inp and wts as textures" : ""}.
// Invocation idx -> column group idx % ${NT} (x${TN}${vec ? " vec4" : ""}), row tile idx / ${NT} (x${TM} rows).
${convDeclarations(s, t, t, tex ? textures : {})}
${inRow}
${entry(g.nx, total)}
  let n0 = ${tex ? "i32" : ""}((idx % ${NT}u) * ${TN}u);
  let m0 = (idx / ${NT}u) * ${TM}u;
  ${rows.map(rowSetup).join("\n  ")}
  ${rows.flatMap((i) => cols.map((j) => `var acc${i}_${j} = ${zero};`)).join(" ")}
  for (var k = 0${tex ? "" : "u"}; k < ${K}${tex ? "" : "u"}; k++) {
    ${rows.map((i) => `let a${i} = ${loadA(i)};`).join(" ")}
    ${tex ? "" : `let wb = k * ${vec ? 4 * N : N}u + n0;`}
    ${loadsB}
    ${accumulate}
  }
  ${rows
    .map(
      (i) => `if (m0 + ${i}u < ${M}u) {
    ${cols
      .map(
        (j) =>
          `{ var v = acc${i}_${j}; let o = (m0 + ${i}u) * ${N}u + ${tex ? "u32(n0)" : "n0"} + ${j}u; ${applyEpilogue(s.epilogue, "v", bias(j), "res[o]", zero)} out[o] = v; }`,
      )
      .join("\n    ")}
  }`,
    )
    .join("\n  ")}
}
`;
  return convKernel(s, name, wgsl, g.dispatch, tex ? textures : undefined);
}
