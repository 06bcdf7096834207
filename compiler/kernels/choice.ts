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

/**
 * A workgroup-memory GEMM tile (conv-gemm, conv-implicit-gemm): `wm` x `wn` invocations, each
 * computing `tm` output rows x `tn` vec4 column groups, so a workgroup computes (wm*tm) rows x
 * (wn*tn*4) output channels; `bk` K units (vec4s of input channels, or scalar taps x channels
 * for the implicit GEMM) are staged per slice, double-buffered.
 */
export interface GemmTile {
  readonly wm: number;
  readonly wn: number;
  readonly tm: number;
  readonly tn: number;
  readonly bk: number;
}

/** Split-K pointwise: a workgroup of `split` invocations shares one `rows` x `cols` (vec4) tile. */
export interface SplitKTile extends PointwiseTile {
  readonly split: number;
}

/** Depthwise with its input halo in workgroup memory: `th` x `tw` outputs x `cg` channel groups. */
export interface HaloTile extends DepthwiseTile {
  readonly cg: number;
}

export type KernelChoice =
  | { readonly family: "conv-pointwise"; readonly storage: Storage; readonly tile: PointwiseTile }
  | { readonly family: "conv-depthwise"; readonly storage: Storage; readonly tile: DepthwiseTile }
  | { readonly family: "conv-direct"; readonly storage: Storage; readonly tile: DirectTile }
  | { readonly family: "conv-naive" }
  | { readonly family: "conv-gemm"; readonly storage: Storage; readonly tile: GemmTile }
  | {
      readonly family: "conv-pointwise-splitk";
      readonly storage: Storage;
      readonly tile: SplitKTile;
      /** Reduce the split with subgroupAdd (devices with the `subgroups` feature only). */
      readonly subgroups?: boolean;
    }
  | { readonly family: "conv-implicit-gemm"; readonly storage: Storage; readonly tile: GemmTile }
  | { readonly family: "conv-depthwise-halo"; readonly storage: Storage; readonly tile: HaloTile }
  | {
      readonly family: "global-avgpool-reduce";
      /** Invocations a workgroup (a power of two), splitting the positions of one channel group. */
      readonly threads: number;
      /** Reduce with subgroupAdd (devices with the `subgroups` feature only). */
      readonly subgroups?: boolean;
    }
  | {
      readonly family: "pool";
      readonly storage: Storage;
      /** Texture storage bordered by the window's padding (average pooling: the zeros it counts). */
      readonly border?: boolean;
    }
  | { readonly family: "global-avgpool" | "fc" | "softmax" | "elementwise" };

export type KernelFamily = KernelChoice["family"];
