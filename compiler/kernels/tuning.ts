// Kernel policy per adapter class: the defaults `select.ts` applies when no measured choice is
// given. Compiler policy, not runtime state: it reads only the adapter's identity strings.
// Tile sizes from `npm run bench:kernels` and `npm run bench` (BENCHMARKS.md): llvmpipe runs
// the largest tiles fastest (on storage buffers, pointwise 32x8 about 5x the GFLOP/s of 4x2 and
// the stem's 56 outputs x 8 vec4 channel groups about 7x one output group; with 7x7 depthwise
// output tiles instead of 2x7, the slowest of res4's depthwise convs went from 5.7-7.6x to
// 11.2-14x the naive kernel in the model, in two of three runs); SwiftShader takes minutes to
// compile those and gains little.
import type { DepthwiseTile, KernelChoice } from "./choice.js";

/** Knobs for the kernel choice; an adapter class's defaults, or a test's or benchmark's own. */
export interface Tuning {
  /** Invocations below which the pointwise GEMM shrinks its register tile (the small-M variant). */
  readonly minInvocations?: number;
  /** The largest pointwise register tile (rows x vec4 columns): big tiles compile slowly on SwiftShader. */
  readonly maxTileArea?: number;
  /** Direct convs: outputs along W and vec4 output-channel groups per invocation. */
  readonly directTile?: { readonly tw: number; readonly cot: number };
  /** Depthwise convs: outputs along H and W per invocation. */
  readonly depthwiseTile?: DepthwiseTile;
  /** Convs read their input and weights as textures where they fit (see texture.ts): llvmpipe. */
  readonly textures?: boolean;
  /** Benchmarks only: every conv as the naive one-invocation-per-output baseline. */
  readonly naive?: boolean;
  /** Measured choices by step (`stepKey` in select.ts), preferred where they can run. */
  readonly choices?: Readonly<Record<string, KernelChoice>>;
}

/** What the policy looks at: GPUAdapterInfo's strings (Dawn, browsers). */
export interface AdapterIdentity {
  readonly vendor?: string;
  readonly architecture?: string;
  readonly device?: string;
  readonly description?: string;
  readonly isFallbackAdapter?: boolean;
}

export type AdapterClass = "gpu" | "llvmpipe" | "swiftshader";

/** vendor / architecture / device / description, for humans. */
export function describeIdentity(i: AdapterIdentity): string {
  return [i.vendor, i.architecture, i.device, i.description].filter((x) => x).join(" / ");
}

/** SwiftShader, another CPU rasteriser (llvmpipe, lavapipe, softpipe: llvmpipe's table), or a GPU. */
export function adapterClass(i: AdapterIdentity): AdapterClass {
  const text = describeIdentity(i);
  if (/swiftshader/i.test(text)) return "swiftshader";
  if (i.isFallbackAdapter || /llvmpipe|lavapipe|softpipe/i.test(text)) return "llvmpipe";
  return "gpu";
}

/** CPU adapters want few, large invocations; GPUs many. */
export const defaultTuning: Readonly<Record<AdapterClass, Tuning>> = {
  swiftshader: {
    minInvocations: 256,
    maxTileArea: 16,
    directTile: { tw: 4, cot: 4 },
    depthwiseTile: { th: 1, tw: 4 },
  },
  llvmpipe: {
    minInvocations: 128,
    maxTileArea: 128,
    directTile: { tw: 56, cot: 8 },
    depthwiseTile: { th: 7, tw: 7 },
    textures: true,
  },
  gpu: {
    minInvocations: 16384,
    maxTileArea: 8,
    directTile: { tw: 4, cot: 2 },
    depthwiseTile: { th: 1, tw: 2 },
  },
};

/** Where no adapter is in view (export, stats, `compile` without a device): a mid-size GPU's. */
const noAdapter = {
  minInvocations: 4096,
  maxTileArea: 32,
  directTile: { tw: 4, cot: 4 },
  depthwiseTile: { th: 1, tw: 2 },
  textures: false,
  naive: false,
} as const;

/** A tuning with every knob set: the given ones over the no-adapter defaults. */
export type Policy = Required<Omit<Tuning, "choices">> & Pick<Tuning, "choices">;

export function policyOf(t: Tuning): Policy {
  const given = Object.fromEntries(Object.entries(t).filter(([, v]) => v !== undefined));
  return { ...noAdapter, ...given };
}

export function tuningFor(i: AdapterIdentity): Tuning {
  return defaultTuning[adapterClass(i)];
}
