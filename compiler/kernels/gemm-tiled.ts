// The workgroup-memory GEMM body shared by conv-gemm (1x1x1 convs, K in vec4s of channels) and
// conv-implicit-gemm (dense convs, K = taps x channels in scalars): out[M][N] = A[M][K] x B[K][N]
// with N in vec4 column groups. A workgroup of wm x wn invocations owns a (wm*tm) x (wn*tn) block
// of outputs; the K axis is walked in slices of `bk` units, each staged into workgroup memory by
// all invocations together (A through the family's `loadA`, B through `loadB`), double-buffered:
// slice k+1 is staged into one buffer while slice k is multiplied out of the other, one barrier
// per slice. An invocation stages the same A rows in every slice, so it finds their input
// positions once (the family's `rowOf`: the index arithmetic out of the K loop). Invocation
// (ty, tx) computes rows ty + i*wm and column groups tx + j*wn, so neighbouring invocations
// read neighbouring B vec4s. Edges: loads outside M or K are zeros, stores outside M or N are
// skipped; no invocation leaves before the last barrier.
import type { GemmTile } from "./choice.js";
import { applyEpilogue, type Epilogue, type KernelLimits } from "./common.js";
import type { ConvOutputs } from "./conv-spec.js";
import { valueType, widen, type Arith } from "./format.js";
import { checkWorkgroup, range, workgroupEntry, workgroupGrid } from "./workgroup.js";

export type { GemmTile };

export interface TiledGemm {
  readonly name: string;
  /** Output rows, vec4 output column groups, K units. */
  readonly M: number;
  readonly N: number;
  readonly K: number;
  /** Scalars of K per unit: 4 (A units are vec4 along K) or 1 (scalars). */
  readonly kLanes: 1 | 4;
  readonly tile: GemmTile;
  /**
   * The bindings' declarations, and the family's WGSL functions: `rowOf(m) -> vec4<i32>` (where
   * row m reads its input), `loadA(row, m, k) -> A unit` (zero outside M or K) and
   * `loadB(k, n) -> vec4` (zero outside K or N).
   */
  readonly declarations: string;
  readonly loaders: string;
  /** The opening comment's lines. */
  readonly comment: string;
  readonly epilogue: Epilogue;
  /** The type A and B units are loaded and multiplied in (`loadA`'s and `loadB`'s). */
  readonly arith: Arith;
  /** The residual's loads and the output's stores (vec4 units). */
  readonly io: Pick<ConvOutputs, "res" | "store">;
  /** The bias of column group `n` (a u32 expression), as a vec4 expression. */
  readonly bias: (n: string) => string;
}

/** Bytes of workgroup memory the GEMM declares: two slices of A and of B. */
export function gemmStorageBytes(t: GemmTile, kLanes: 1 | 4): number {
  const a = t.wm * t.tm * t.bk * 4 * kLanes;
  const b = t.bk * kLanes * t.wn * t.tn * 16;
  return 2 * (a + b);
}

/** The tiled GEMM's WGSL and its grid of workgroups; a csnc bug if it cannot fit the device. */
export function tiledGemm(g: TiledGemm, limits: KernelLimits) {
  const { wm, wn, tm, tn, bk } = g.tile;
  const threads = wm * wn;
  checkWorkgroup(g.name, threads, gemmStorageBytes(g.tile, g.kLanes), limits);
  const BM = wm * tm;
  const BN = wn * tn;
  const MT = Math.ceil(g.M / BM);
  const NT = Math.ceil(g.N / BN);
  const groups = MT * NT;
  const grid = workgroupGrid(groups, limits);
  const slices = Math.ceil(g.K / bk);
  const aType = valueType(g.arith, g.kLanes);
  const A = BM * bk; // A units a slice
  const B = bk * g.kLanes * BN; // B vec4s a slice
  const comp = ["x", "y", "z", "w"];
  const rows = range(tm);
  const cols = range(tn);
  const lanes = range(g.kLanes);
  const product = (i: number, j: number) =>
    g.kLanes === 4
      ? lanes.map((q) => `a${i}.${comp[q]} * b${j}_${q}`).join(" + ")
      : `a${i} * b${j}_0`;
  // A units an invocation stages a slice: e = lid + r * threads (r < perThread), row
  // m0 + e / bk, unit e % bk; their rows' input positions in \`rows\`, found once.
  const perThread = Math.ceil(A / threads);
  const ragged = perThread * threads > A;
  const stage = (buf: string, slice: string, indent: string) =>
    [
      `for (var r = 0u; r < ${perThread}u; r++) {`,
      `  let e = lid + r * ${threads}u;`,
      `  ${ragged ? `if (e < ${A}u) { ` : ""}As[${buf} * ${A}u + e] = loadA(rows[r], m0 + e / ${bk}u, ${slice} * ${bk}u + e % ${bk}u);${ragged ? " }" : ""}`,
      `}`,
      `for (var e = lid; e < ${B}u; e += ${threads}u) { Bs[${buf} * ${B}u + e] = loadB(${slice} * ${bk * g.kLanes}u + e / ${BN}u, n0 + e % ${BN}u); }`,
    ].join(`\n${indent}`);
  const step = (kk: number) =>
    [
      rows.map((i) => `let a${i} = As[ab + (ty + ${i * wm}u) * ${bk}u + ${kk}u];`).join(" "),
      cols
        .map((j) =>
          lanes
            .map((q) => `let b${j}_${q} = Bs[bb + ${(kk * g.kLanes + q) * BN}u + tx + ${j * wn}u];`)
            .join(" "),
        )
        .join(" "),
      rows
        .map((i) =>
          cols.map((j) => `acc${i}_${j} += ${widen(g.arith, 4, product(i, j))};`).join(" "),
        )
        .join(" "),
    ].join("\n      ");
  const wgsl = `// ${g.name}: ${g.comment}
// Workgroup (${wm}x${wn} invocations) -> a ${BM}-row x ${BN}-column-group block: column block wg % ${NT}, row block wg / ${NT}.
// Invocation lid -> rows ty + i*${wm} (ty = lid / ${wn}, i < ${tm}), column groups tx + j*${wn} (tx = lid % ${wn}, j < ${tn}).
// K: ${slices} slice(s) of ${bk} unit(s) (${g.kLanes} scalar(s) of K a unit), staged in As [2][${BM}][${bk}] and Bs [2][${bk * g.kLanes}][${BN}], double-buffered.
${g.declarations}
var<workgroup> As: array<${aType}, ${2 * A}>;
var<workgroup> Bs: array<${valueType(g.arith, 4)}, ${2 * B}>;
${g.loaders}
${workgroupEntry(threads, grid.nx, groups)}
  let n0 = (wg % ${NT}u) * ${BN}u;
  let m0 = (wg / ${NT}u) * ${BM}u;
  let tx = lid % ${wn}u;
  let ty = lid / ${wn}u;
  ${rows.flatMap((i) => cols.map((j) => `var acc${i}_${j} = vec4<f32>(0.0);`)).join(" ")}
  // The input positions of the A rows this invocation stages.
  var rows: array<vec4<i32>, ${perThread}>;
  for (var r = 0u; r < ${perThread}u; r++) { rows[r] = rowOf(min(m0 + (lid + r * ${threads}u) / ${bk}u, ${g.M - 1}u)); }
  {
    ${stage("0u", "0u", "    ")}
  }
  workgroupBarrier();
  for (var slice = 0u; slice < ${slices}u; slice++) {
    let buf = slice % 2u;
    if (slice + 1u < ${slices}u) {
      let next = slice + 1u;
      ${stage("(1u - buf)", "next", "      ")}
    }
    let ab = buf * ${A}u;
    let bb = buf * ${B}u;
    ${range(bk)
      .map((kk) => `{\n      ${step(kk)}\n    }`)
      .join("\n    ")}
    workgroupBarrier();
  }
  ${rows
    .map(
      (i) => `if (m0 + ty + ${i * wm}u < ${g.M}u) {
    let m = m0 + ty + ${i * wm}u;
    ${cols
      .map(
        (j) =>
          `if (n0 + tx + ${j * wn}u < ${g.N}u) { let n = n0 + tx + ${j * wn}u; let o = m * ${g.N}u + n; var v = acc${i}_${j}; ${applyEpilogue(g.epilogue, "v", g.bias("n"), g.io.res("o"), "vec4<f32>(0.0)")} ${g.io.store("o", "v")} }`,
      )
      .join("\n    ")}
  }`,
    )
    .join("\n  ")}
}
`;
  return { wgsl, grid };
}
