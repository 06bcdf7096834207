// What every kernel generator returns and the WGSL pieces they share.
export { compatLimits, unlimitedLimits, type KernelLimits, type TextureShape } from "./limits.js";
import type { KernelChoice, KernelFamily } from "./choice.js";
import { withHalfHelpers } from "./format.js";
import type { KernelLimits, TextureShape } from "./limits.js";
import type { ActivationTexture } from "./texture.js";
import type { WeightLayout } from "./weights.js";

/** A binding slot of a kernel, in @binding order. */
export type BindingRole = "input" | "weights" | "residual" | "output";

/** What a generator is asked for: the family and its variant (see choice.ts). */
export type { KernelChoice, KernelFamily } from "./choice.js";

export interface Kernel {
  readonly family: KernelFamily;
  /** The variant generated, exactly as chosen (generators never downgrade). */
  readonly choice: KernelChoice;
  /** Family and variant for humans and profiles, e.g. `conv-pointwise-vec4-4x2`. */
  readonly name: string;
  /** Identifies the WGSL: the name and the shape it was generated for. */
  readonly key: string;
  readonly wgsl: string;
  readonly dispatch: readonly [number, number, number];
  readonly bindings: readonly BindingRole[];
  /** Roles read through a 2D rgba32float texture instead of a storage buffer, with its size. */
  readonly textures?: { readonly input?: ActivationTexture; readonly weights?: TextureShape };
  /** How the weights this kernel reads are laid out (the runtime packs them so, see weights.ts). */
  readonly weights?: WeightLayout;
  /** Multiply-adds x 2 (for GFLOP/s) and bytes read + written, for profiles. */
  readonly flops: number;
  readonly bytes: number;
}

/** A kernel from its parts: its cache key from its name and shape, its dispatch from its grid. */
export function makeKernel(
  parts: Omit<Kernel, "dispatch" | "key"> & {
    readonly grid: { readonly dispatch: readonly [number, number, number] };
    /** The shape the WGSL was generated for, for the cache key. */
    readonly shape: string;
  },
): Kernel {
  const { grid: g, shape, wgsl, ...rest } = parts;
  return {
    ...rest,
    wgsl: withHalfHelpers(wgsl),
    key: `${parts.name}@${shape}`,
    dispatch: g.dispatch,
  };
}

/**
 * WGSL: the u32 coordinates of linear index `of`, innermost first (`[name, extent]`); the last
 * takes what remains. Uses and declares `r` when there are more than two.
 */
export function unflatten(of: string, axes: readonly (readonly [string, number])[]): string {
  if (axes.length === 1) return `let ${axes[0]![0]} = ${of};`;
  const lines: string[] = [];
  for (let i = 0, rest = of; i < axes.length - 1; i++) {
    const [name, extent] = axes[i]!;
    lines.push(`let ${name} = ${rest} % ${extent}u;`);
    if (i === axes.length - 2) lines.push(`let ${axes[i + 1]![0]} = ${rest} / ${extent}u;`);
    else lines.push(i === 0 ? `var r = ${of} / ${extent}u;` : `r = r / ${extent}u;`);
    rest = "r";
  }
  return lines.join(" ");
}

/** Invocations per workgroup of every kernel: 64 suits CPU lanes and GPU waves alike. */
export const workgroupSize = 64;

/** A dispatch too large for the device's grid; buildPlan reports it as a PlanError naming the layer. */
export class GridError extends Error {}

/**
 * Workgroups for `invocations` threads, folded into a 2D grid when one dimension cannot hold
 * them. Kernels recover the linear index with `linearIndex(nx)`.
 */
export function grid(
  invocations: number,
  limits: KernelLimits,
): { dispatch: [number, number, number]; nx: number } {
  const groups = Math.max(1, Math.ceil(invocations / workgroupSize));
  const max = limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return { dispatch: [groups, 1, 1], nx: groups };
  const ny = Math.ceil(groups / max);
  const nx = Math.ceil(groups / ny);
  if (ny > max)
    throw new GridError(
      `a dispatch of ${invocations} invocations exceeds the device's grid (${max}x${max} workgroups of ${workgroupSize})`,
    );
  return { dispatch: [nx, ny, 1], nx };
}

/** The entry point header; `idx` is the invocation's linear index, `total` bounds it. */
export function entry(nx: number, total: number): string {
  return `@compute @workgroup_size(${workgroupSize})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = (wid.y * ${nx}u + wid.x) * ${workgroupSize}u + lid;
  if (idx >= ${total}u) { return; }`;
}

export { binding } from "./format.js";

/** Elementwise epilogue on a value `v` of type `t`: bias, relu, residual add, relu. */
export interface Epilogue {
  readonly bias: boolean;
  readonly relu: boolean;
  readonly residual: boolean;
  readonly reluAfterAdd: boolean;
}

export function applyEpilogue(
  e: Epilogue,
  v: string,
  biasExpr: string,
  residualExpr: string,
  zero: string,
): string {
  const lines: string[] = [];
  if (e.bias) lines.push(`${v} = ${v} + ${biasExpr};`);
  if (e.relu) lines.push(`${v} = max(${v}, ${zero});`);
  if (e.residual) lines.push(`${v} = ${v} + ${residualExpr};`);
  if (e.reluAfterAdd) lines.push(`${v} = max(${v}, ${zero});`);
  return lines.join(" ");
}

export function f32(x: number): string {
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}
