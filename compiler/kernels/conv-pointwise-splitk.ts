// 1x1x1 convolution with the K axis split inside the workgroup, for small M and large K (res5 at
// 224 input: M = 196, K = 2048), where one invocation per output tile leaves the device idle.
// A workgroup of `split` invocations owns a `rows` x `cols` (vec4) output tile; invocation s
// takes the K steps s, s + split, ..., then the partial tiles are summed through workgroup memory
// in a tree (split a power of two, log2(split) halvings, a barrier each) or, in the subgroup
// variant, first across each subgroup with subgroupAdd, then across subgroups through workgroup
// memory. Still one kernel and one dispatch a step. Output rows map to (strided) input positions
// as in conv-pointwise. Weights: the pointwise layout, [Cin][Cout] then the bias [Cout].
import type { SplitKTile } from "./choice.js";
import { applyEpilogue, type Kernel, type KernelLimits } from "./common.js";
import { canVectorise } from "./conv-pointwise.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";
import {
  convKernel,
  convOperands,
  pointwiseSource,
  prod,
  storageOf,
  unsupported,
} from "./conv-spec.js";
import {
  checkWorkgroup,
  fitsWorkgroup,
  range,
  workgroupEntry,
  workgroupGrid,
} from "./workgroup.js";

export type { SplitKTile };

const isPowerOfTwo = (x: number) => x >= 1 && (x & (x - 1)) === 0;

/** Workgroup memory of the partial tiles: one vec4 per output per invocation. */
const partialBytes = (t: SplitKTile) => t.split * t.rows * t.cols * 16;

/** Whether conv-pointwise-splitk can run `s` with `tile` (and subgroups, if asked) here. */
export function splitKFits(
  s: ConvSpec,
  tile: SplitKTile,
  subgroups: boolean,
  limits: KernelLimits,
): boolean {
  return (
    canVectorise(s) &&
    isPowerOfTwo(tile.split) &&
    (!subgroups || limits.subgroups === true) &&
    fitsWorkgroup(tile.split, partialBytes(tile), limits)
  );
}

/** `textures`: the input and weights as textures (see texture.ts), both vec4 along channels. */
export function convPointwiseSplitK(
  s: ConvSpec,
  limits: KernelLimits,
  tile: SplitKTile,
  subgroups: boolean,
  textures?: ConvTextures,
): Kernel {
  const strided = s.stride.some((x) => x !== 1);
  const { rows: TM, cols: TN, split: S } = tile;
  const name = `conv-pointwise-splitk${subgroups ? "-subgroups" : ""}${strided ? "-strided" : ""}${textures ? "-tex" : ""}-vec4-${TM}x${TN}-split${S}`;
  if (!canVectorise(s)) unsupported(name, "it needs channels in fours");
  if (!isPowerOfTwo(S)) unsupported(name, `a split of ${S}, not a power of two`);
  if (subgroups && limits.subgroups !== true) unsupported(name, "the device has no subgroups");
  checkWorkgroup(name, S, partialBytes(tile), limits);
  const K = s.cin / 4;
  const N = s.cout / 4;
  const M = s.n * prod(s.output);
  const NT = Math.ceil(N / TN);
  const groups = Math.ceil(M / TM) * NT;
  const g = workgroupGrid(groups, limits);
  const { inp, wts, io, declarations, num } = convOperands(s, 4, "vec4<f32>", N, textures);
  const rows = range(TM);
  const cols = range(TN);
  const outs = rows.flatMap((i) => cols.map((j) => [i, j] as const));
  const comp = ["x", "y", "z", "w"];
  const zero = "vec4<f32>(0.0)";
  // Partial sums: part[o * S + s] for output o = i * TN + j of invocation s.
  const reduce = subgroups
    ? `// Sum within each subgroup, then the subgroups' sums through workgroup memory.
  ${outs.map(([i, j]) => `let r${i}_${j} = subgroupAdd(acc${i}_${j});`).join(" ")}
  if (sgi == 0u) {
    ${outs.map(([i, j]) => `part[${(i * TN + j) * S}u + sg] = r${i}_${j};`).join(" ")}
  }
  workgroupBarrier();
  let parts = nsg;`
    : `${outs.map(([i, j]) => `part[${(i * TN + j) * S}u + lid] = acc${i}_${j};`).join(" ")}
  workgroupBarrier();
  // A tree: halve the live partials until one per output is left.
  for (var half = ${S >> 1}u; half > 0u; half = half / 2u) {
    if (lid < half) {
      for (var o = 0u; o < ${TM * TN}u; o++) { part[o * ${S}u + lid] += part[o * ${S}u + lid + half]; }
    }
    workgroupBarrier();
  }
  let parts = 1u;`;
  const builtins = subgroups
    ? ", @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_id) sg: u32, @builtin(num_subgroups) nsg: u32"
    : "";
  const wgsl = `${subgroups ? "enable subgroups;\n" : ""}// ${name}: 1x1x1 conv as GEMM [M=${M}, K=${s.cin}] x [K, N=${s.cout}]${strided ? `, stride ${s.stride.join("x")}` : ""}, K split ${S} ways in the workgroup.
// Layouts (channels-last, vec4 along channels): inp [M_in][K], wts [K][N] then bias [N], out [M][N]${textures ? "; inp and wts as textures" : ""}.
// Workgroup wg -> column groups (wg % ${NT}) * ${TN} (x${TN} vec4), rows (wg / ${NT}) * ${TM} (x${TM}); invocation lid -> K steps lid, lid + ${S}, ...
// Partials part [${TM * TN} outputs][${S}], reduced ${subgroups ? "by subgroupAdd, then across subgroups" : "in a tree"}.
${declarations}
var<workgroup> part: array<vec4<f32>, ${S * TM * TN}>;
${pointwiseSource(s, inp)}
${workgroupEntry(S, g.nx, groups, builtins)}
  let n0 = (wg % ${NT}u) * ${TN}u;
  let m0 = (wg / ${NT}u) * ${TM}u;
  ${rows.map((i) => `let s${i} = source(min(m0 + ${i}u, ${M - 1}u));`).join("\n  ")}
  ${cols.map((j) => `let c${j} = i32(min(n0 + ${j}u, ${N - 1}u));`).join(" ")}
  ${outs.map(([i, j]) => `var acc${i}_${j} = ${zero};`).join(" ")}
  for (var k0 = 0u; k0 < ${K}u; k0 += ${S}u) {
    let k = i32(k0 + lid);
    if (k < ${K}) {
      ${rows.map((i) => `let a${i} = ${inp.raw(`s${i}.x`, `s${i}.y`, "k")};`).join(" ")}
      ${cols
        .map((j) =>
          range(4)
            .map((q) => `let b${j}_${q} = ${wts.raw(`k * 4 + ${q}`, `c${j}`)};`)
            .join(" "),
        )
        .join("\n      ")}
      ${outs
        .map(
          ([i, j]) =>
            `acc${i}_${j} += ${num.widen(
              range(4)
                .map((q) => `a${i}.${comp[q]} * b${j}_${q}`)
                .join(" + "),
            )};`,
        )
        .join("\n      ")}
    }
  }
  ${reduce}
  // Invocation o < ${TM * TN} finishes output o: the sum of the ${subgroups ? "subgroups'" : "tree's"} partials, the epilogue, the store.
  for (var o = lid; o < ${TM * TN}u; o += ${S}u) {
    let m = m0 + o / ${TN}u;
    let n = n0 + o % ${TN}u;
    if (m < ${M}u && n < ${N}u) {
      var v = ${zero};
      for (var p = 0u; p < parts; p++) { v += part[o * ${S}u + p]; }
      let i = m * ${N}u + n;
      ${applyEpilogue(s.epilogue, "v", wts.load(`${s.cin}`, "i32(n)"), io.res("i"), zero)}
      ${io.store("i", "v")}
    }
  }
}
`;
  const choice = {
    family: "conv-pointwise-splitk",
    storage: storageOf(textures),
    tile,
    ...(subgroups ? { subgroups } : {}),
  } as const;
  return convKernel(s, choice, "pointwise", { name, wgsl, grid: g, textures });
}
