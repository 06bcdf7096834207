// The conv family's generator for a choice: one switch, so select.ts decides and this dispatches.
import type { KernelChoice } from "./choice.js";
import type { Kernel, KernelLimits } from "./common.js";
import { convDepthwise } from "./conv-depthwise.js";
import { convDepthwiseHalo } from "./conv-depthwise-halo.js";
import { convDirect } from "./conv-direct.js";
import { convGemm } from "./conv-gemm.js";
import { convImplicitGemm } from "./conv-implicit-gemm.js";
import { convNaive } from "./conv-naive.js";
import { convPointwise } from "./conv-pointwise.js";
import { convPointwiseSplitK } from "./conv-pointwise-splitk.js";
import type { ConvSpec, ConvTextures } from "./conv-spec.js";

/** The conv family's generator for `choice`. */
export function convFamily(
  s: ConvSpec,
  limits: KernelLimits,
  choice: KernelChoice,
  textures: ConvTextures | undefined,
): Kernel {
  switch (choice.family) {
    case "conv-naive":
      return convNaive(s, limits);
    case "conv-pointwise":
      return convPointwise(s, limits, choice.tile, textures);
    case "conv-depthwise":
      return convDepthwise(s, limits, choice.tile, textures);
    case "conv-direct":
      return convDirect(s, limits, choice.tile, textures);
    case "conv-gemm":
      return convGemm(s, limits, choice.tile, textures);
    case "conv-pointwise-splitk":
      return convPointwiseSplitK(s, limits, choice.tile, choice.subgroups === true, textures);
    case "conv-implicit-gemm":
      return convImplicitGemm(s, limits, choice.tile, textures);
    case "conv-depthwise-halo":
      return convDepthwiseHalo(s, limits, choice.tile, textures);
    default:
      throw new Error(`csnc bug: ${choice.family} is not a conv family`);
  }
}
