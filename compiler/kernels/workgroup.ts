// What the workgroup-memory kernels share (conv-gemm, conv-implicit-gemm, conv-pointwise-splitk,
// conv-depthwise-halo): one workgroup per output tile, so their grids count workgroups, not
// invocations, and their invocations cooperate through `var<workgroup>` arrays and barriers.
// Barriers must sit in uniform control flow: the entry returns early only on the workgroup id
// (uniform), never on the invocation's own index, and every invocation reaches every barrier.
import { GridError, type KernelLimits } from "./common.js";
import { unsupported } from "./conv-spec.js";
import { workgroupSizeXFloor, workgroupStorageFloor } from "./limits.js";

/** `groups` workgroups, folded into a 2D grid when one dimension cannot hold them. */
export function workgroupGrid(
  groups: number,
  limits: KernelLimits,
): { dispatch: [number, number, number]; nx: number } {
  const max = limits.maxComputeWorkgroupsPerDimension;
  const n = Math.max(1, groups);
  if (n <= max) return { dispatch: [n, 1, 1], nx: n };
  const ny = Math.ceil(n / max);
  const nx = Math.ceil(n / ny);
  if (ny > max)
    throw new GridError(`a dispatch of ${n} workgroups exceeds the device's grid (${max}x${max})`);
  return { dispatch: [nx, ny, 1], nx };
}

/**
 * The entry point header of a workgroup of `size` invocations: `wg` is the workgroup's linear
 * index (spare workgroups of a folded grid return, uniformly), `lid` the invocation's.
 * `builtins`: more parameters, e.g. subgroup builtins.
 */
export function workgroupEntry(size: number, nx: number, groups: number, builtins = ""): string {
  return `@compute @workgroup_size(${size})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${builtins}) {
  let wg = wid.y * ${nx}u + wid.x;
  if (wg >= ${groups}u) { return; }`;
}

/** The most invocations a 1D workgroup may have on this device. */
export function maxWorkgroupSize(limits: KernelLimits): number {
  return Math.min(
    limits.maxComputeInvocationsPerWorkgroup,
    limits.maxComputeWorkgroupSizeX ?? workgroupSizeXFloor,
  );
}

/** Throws a csnc bug unless `invocations` and `bytes` of workgroup memory fit the device. */
export function checkWorkgroup(
  name: string,
  invocations: number,
  bytes: number,
  limits: KernelLimits,
): void {
  const most = maxWorkgroupSize(limits);
  if (invocations > most) unsupported(name, `${invocations} invocations, the device takes ${most}`);
  const storage = limits.maxComputeWorkgroupStorageSize ?? workgroupStorageFloor;
  if (bytes > storage)
    unsupported(name, `${bytes} bytes of workgroup memory, the device takes ${storage}`);
}

/** Whether a workgroup of `invocations` with `bytes` of workgroup memory fits the device. */
export function fitsWorkgroup(invocations: number, bytes: number, limits: KernelLimits): boolean {
  const storage = limits.maxComputeWorkgroupStorageSize ?? workgroupStorageFloor;
  return invocations <= maxWorkgroupSize(limits) && bytes <= storage;
}

export const range = (n: number) => [...Array(n).keys()];
