// A session's timings as data: per-dispatch rates for `csnc profile`, the benchmarks and the demo.
import type { Plan } from "../compiler/plan.js";
import type { DispatchTimes } from "./executor.js";

export interface KernelProfile {
  readonly path: string;
  readonly layers: readonly string[];
  readonly kernel: string;
  readonly ms: number;
  readonly share: number;
  readonly gflops: number;
  readonly bytes: number;
  readonly gbps: number;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The 90th percentile of `xs` (nearest rank), or undefined for fewer than 10 samples, where
 * the nearest rank is only the maximum.
 */
export function p90(xs: readonly number[]): number | undefined {
  if (xs.length < 10) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.ceil(0.9 * s.length) - 1]!;
}

export function kernelProfiles(plan: Plan, times: DispatchTimes): KernelProfile[] {
  const total = times.ms.reduce((a, b) => a + b, 0);
  return plan.dispatches.map((d, i) => {
    const ms = times.ms[i]!;
    const seconds = ms / 1000;
    return {
      path: d.path,
      layers: d.layers,
      kernel: d.kernel,
      ms,
      share: total > 0 ? ms / total : 0,
      gflops: seconds > 0 ? d.flops / seconds / 1e9 : 0,
      bytes: d.bytes,
      gbps: seconds > 0 ? d.bytes / seconds / 1e9 : 0,
    };
  });
}
