// What every training kernel shares: its buffer declarations, the two thread shapes (one
// invocation per element; one workgroup per reduced item) and the gradient store.
import { f32, grid, unflatten, workgroupSize, type KernelLimits } from "../../kernels/common.js";
import { hyperWgsl, type TrainKernel } from "../program.js";

export { f32, unflatten };

/** A storage binding: its WGSL name, element type and whether the kernel writes it. */
export interface Bind {
  readonly name: string;
  readonly type?: "f32" | "u32" | "atomic<u32>";
  readonly write?: boolean;
}

function declarations(binds: readonly Bind[], hyper: boolean): string {
  const lines = binds.map(
    (b, i) =>
      `@group(0) @binding(${i}) var<storage, ${b.write ? "read_write" : "read"}> ${b.name}: array<${b.type ?? "f32"}>;`,
  );
  if (hyper) lines.push(hyperWgsl, `@group(0) @binding(${binds.length}) var<uniform> hp: Hyper;`);
  return lines.join("\n");
}

interface KernelParts {
  readonly name: string;
  /** The shape the WGSL was generated for: part of the cache key. */
  readonly shape: string;
  readonly binds: readonly Bind[];
  readonly hyper?: boolean;
  readonly flops?: number;
  /** WGSL outside the entry point (helpers, workgroup arrays). */
  readonly prelude?: string;
}

function kernel(
  p: KernelParts,
  body: string,
  dispatch: readonly [number, number, number],
): TrainKernel {
  const wgsl = `${declarations(p.binds, p.hyper ?? false)}\n${p.prelude ?? ""}\n${body}\n`;
  return {
    name: `${p.name} ${p.shape}`,
    key: `${p.name}@${p.shape}#${p.binds.map((b) => (b.write ? "w" : "r")).join("")}${hashText(wgsl)}`,
    wgsl,
    dispatch,
    access: p.binds.map((b) => (b.write ? "write" : "read")),
    hyper: p.hyper ?? false,
    flops: p.flops ?? 0,
  };
}

// FNV-1a: two generators may emit different WGSL for one name and shape (masks, accumulation).
function hashText(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(36);
}

/** One invocation per element `idx` < total. */
export function elementwise(
  p: KernelParts,
  total: number,
  body: string,
  limits: KernelLimits,
): TrainKernel {
  const g = grid(total, limits);
  return kernel(
    p,
    `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * ${g.nx}u + wid.x) * ${workgroupSize}u + lid;
  if (idx >= ${total}u) { return; }
  ${body}
}`,
    g.dispatch,
  );
}

/** A single invocation (the loss over a small batch). */
export function single(p: KernelParts, body: string): TrainKernel {
  return kernel(p, `@compute @workgroup_size(1)\nfn main() {\n  ${body}\n}`, [1, 1, 1]);
}

/**
 * One workgroup per reduced item (`item` < items): each lane sums its share of `count` terms
 * with `term(i)` into `acc`, then a tree over workgroup memory leaves the sum in `sums[0]`.
 * `sums` names one or two accumulators; `finish` runs on lane 0 with `total_<name>` defined.
 */
export function reduction(
  p: KernelParts,
  items: number,
  r: {
    readonly count: number | string;
    readonly setup?: string;
    /** Statements adding to the accumulators `acc_<name>` for term `i` (u32). */
    readonly term: string;
    readonly sums: readonly string[];
    readonly finish: string;
    /** Work before the lanes start (uniform), e.g. a first reduction pass. */
    readonly before?: string;
  },
  limits: KernelLimits,
): TrainKernel {
  const max = limits.maxComputeWorkgroupsPerDimension;
  const ny = Math.ceil(items / max);
  const nx = Math.ceil(items / ny);
  const arrays = r.sums.map((s) => `var<workgroup> red_${s}: array<f32, ${workgroupSize}>;`);
  const count = typeof r.count === "number" ? `${r.count}u` : r.count;
  return kernel(
    { ...p, prelude: `${p.prelude ?? ""}\n${arrays.join("\n")}` },
    `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let item = wid.y * ${nx}u + wid.x;
  if (item >= ${items}u) { return; }
  ${r.setup ?? ""}
  ${r.sums.map((s) => `var acc_${s} = 0.0;`).join(" ")}
  for (var i = lid; i < ${count}; i = i + ${workgroupSize}u) {
    ${r.term}
  }
  ${r.sums.map((s) => `red_${s}[lid] = acc_${s};`).join(" ")}
  workgroupBarrier();
  for (var s = ${workgroupSize / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { ${r.sums.map((n) => `red_${n}[lid] = red_${n}[lid] + red_${n}[lid + s];`).join(" ")} }
    workgroupBarrier();
  }
  if (lid == 0u) {
    ${r.sums.map((s) => `let total_${s} = red_${s}[0];`).join(" ")}
    ${r.finish}
  }
}`,
    [nx, ny, 1],
  );
}

/**
 * How a backward kernel writes a gradient contribution into its destination: the first
 * contribution in backward order overwrites, later ones add; a destination that is a ReLU's
 * output holds the pre-ReLU gradient, so the ReLU's mask is applied here (fused).
 */
export interface GradStore {
  readonly accumulate: boolean;
  readonly masked: boolean;
}

/** The bindings a store adds: the destination, and the ReLU output that masks it. */
export function storeBinds(s: GradStore): Bind[] {
  return [{ name: "dst", write: true }, ...(s.masked ? [{ name: "mask" }] : [])];
}

export function storeGrad(s: GradStore, at: string, value: string): string {
  const v = s.masked ? `select(0.0, ${value}, mask[${at}] > 0.0)` : value;
  return s.accumulate ? `dst[${at}] = dst[${at}] + ${v};` : `dst[${at}] = ${v};`;
}

/** WGSL: whether an f32 is NaN or infinite (by its bits: WGSL may assume NaN never compares). */
export const nonFinite = (expr: string) => `((bitcast<u32>(${expr}) & 0x7f800000u) == 0x7f800000u)`;

/**
 * WGSL: whether the step stays finite so far: loss[2] is set by the loss kernel and by every
 * gradient and statistics check (grad-check); the updates change nothing when it is.
 */
export const stepFinite = "(bitcast<u32>(loss[2]) == 0u)";

export const storeTag = (s: GradStore) => `${s.accumulate ? "+" : "="}${s.masked ? "m" : ""}`;
