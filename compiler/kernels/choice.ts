// The kernel variant chosen for one step, as data: what select.ts decides (from the adapter
// class's defaults or a measured choice passed in) and what a family's generator is asked for.
// A generator either makes exactly this variant or reports a csnc bug; it never downgrades.

/** Where a kernel reads its input (and, for convs, its weights) from. */
export type Storage = "buffer" | "texture";

/** A pointwise GEMM register tile: rows x column groups (vec4, or scalars in the scalar variant). */
export interface PointwiseTile {
  readonly rows: number;
  readonly cols: number;
}

/** Depthwise outputs along H and W per invocation. */
export interface DepthwiseTile {
  readonly th: number;
  readonly tw: number;
}

/** Direct conv outputs along W, and output-channel groups (vec4), per invocation. */
export interface DirectTile {
  readonly tw: number;
  readonly cot: number;
}

export type KernelChoice =
  | { readonly family: "conv-pointwise"; readonly storage: Storage; readonly tile: PointwiseTile }
  | { readonly family: "conv-depthwise"; readonly storage: Storage; readonly tile: DepthwiseTile }
  | { readonly family: "conv-direct"; readonly storage: Storage; readonly tile: DirectTile }
  | { readonly family: "conv-naive" }
  | {
      readonly family: "pool";
      readonly storage: Storage;
      /** Texture storage bordered by the window's padding (average pooling: the zeros it counts). */
      readonly border?: boolean;
    }
  | { readonly family: "global-avgpool" | "fc" | "softmax" | "elementwise" };

export type KernelFamily = KernelChoice["family"];
