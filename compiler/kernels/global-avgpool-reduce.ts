// Global average pooling with the positions split across a workgroup, for GPUs: the register
// kernel (pool.ts) gives each (n, channel group) one invocation that walks all T*H*W positions,
// which at res5 leaves most of a GPU idle. Here a workgroup of `threads` invocations owns one
// (n, channel group); invocation i sums positions i, i + threads, ..., then the partial sums are
// added in a tree through workgroup memory or, in the subgroup variant, first with subgroupAdd
// within each subgroup and then across subgroups. One kernel, one dispatch. Channels-last.
import { f32, makeKernel, unflatten, type Kernel, type KernelLimits } from "./common.js";
import {
  arithOf,
  bufferArray,
  f32Io,
  formatSuffix,
  storedBytes,
  type IoFormats,
} from "./format.js";
import type { Triple } from "../ir.js";
import { unsupported } from "./conv-spec.js";
import { checkWorkgroup, workgroupEntry, workgroupGrid } from "./workgroup.js";

const isPowerOfTwo = (x: number) => x >= 1 && (x & (x - 1)) === 0;

export function globalAvgPoolReduce(
  n: number,
  c: number,
  input: Triple,
  limits: KernelLimits,
  threads: number,
  subgroups: boolean,
  formats: IoFormats = f32Io,
): Kernel {
  const vec = c % 4 === 0;
  const C = vec ? c / 4 : c;
  const P = input[0] * input[1] * input[2];
  const t = vec ? "vec4<f32>" : "f32";
  const name = `global-avgpool-reduce${subgroups ? "-subgroups" : ""}-${vec ? "vec4" : "scalar"}-x${threads}${formatSuffix(formats)}`;
  const inp = bufferArray(formats.input, vec ? 4 : 1, arithOf(formats));
  const out = bufferArray(formats.output, vec ? 4 : 1, arithOf(formats));
  if (!isPowerOfTwo(threads)) unsupported(name, `${threads} invocations, not a power of two`);
  if (subgroups && limits.subgroups !== true) unsupported(name, "the device has no subgroups");
  checkWorkgroup(name, threads, threads * (vec ? 16 : 4), limits);
  const groups = n * C;
  const g = workgroupGrid(groups, limits);
  const reduce = subgroups
    ? `let r = subgroupAdd(acc);
  if (sgi == 0u) { part[sg] = r; }
  workgroupBarrier();
  if (lid == 0u) {
    var v = ${t}(0.0);
    for (var s = 0u; s < nsg; s++) { v += part[s]; }
    ${out.store("out", "wg", `v * ${f32(1 / P)}`)}
  }`
    : `part[lid] = acc;
  workgroupBarrier();
  for (var half = ${threads >> 1}u; half > 0u; half = half / 2u) {
    if (lid < half) { part[lid] += part[lid + half]; }
    workgroupBarrier();
  }
  if (lid == 0u) { ${out.store("out", "wg", `part[0] * ${f32(1 / P)}`)} }`;
  const builtins = subgroups
    ? ", @builtin(subgroup_invocation_id) sgi: u32, @builtin(subgroup_id) sg: u32, @builtin(num_subgroups) nsg: u32"
    : "";
  const wgsl = `${subgroups ? "enable subgroups;\n" : ""}// ${name}: mean over ${P} positions (T*H*W = ${input.join("x")}), C=${c}; channels-last${vec ? ", vec4 along C" : ""}.
// Workgroup wg -> (n, channel group) = (wg / ${C}, wg % ${C}); invocation lid -> positions lid, lid + ${threads}, ...
// Partial sums reduced ${subgroups ? "by subgroupAdd, then across subgroups" : "in a tree"} through part [${threads}].
${inp.declaration(0, "inp")}
${out.declaration(1, "out", true)}
var<workgroup> part: array<${t}, ${threads}>;
${workgroupEntry(threads, g.nx, groups, builtins)}
  ${unflatten("wg", [
    ["c", C],
    ["n", n],
  ])}
  var acc = ${t}(0.0);
  for (var p = lid; p < ${P}u; p += ${threads}u) { acc += ${inp.load("inp", `(n * ${P}u + p) * ${C}u + c`)}; }
  ${reduce}
}
`;
  return makeKernel({
    family: "global-avgpool-reduce",
    choice: { family: "global-avgpool-reduce", threads, ...(subgroups ? { subgroups } : {}) },
    name,
    shape: JSON.stringify({ n, c, input, formats }),
    wgsl,
    grid: g,
    bindings: ["input", "output"],
    flops: n * c * P,
    bytes: storedBytes(n * c * P, formats.input) + storedBytes(n * c, formats.output),
  });
}
