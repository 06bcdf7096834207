// What the single-kernel benchmarks (kernels.ts, fusion.ts) share: the limits their kernels are
// generated for, a conv's texture inputs, and the timing of one dispatch.
import { compatLimits, type Kernel } from "../compiler/kernels/common.js";
import { convWeightFloats, type ConvSpec } from "../compiler/kernels/conv-spec.js";
import { activationTexture, clipTexture, weightTexture } from "../compiler/kernels/texture.js";

/** Compatibility-mode limits with the larger textures llvmpipe offers (16384). */
export const benchLimits = { ...compatLimits, maxTextureDimension2D: 16384 };

/** The input texture (bordered by the conv's padding) and weight texture a conv reads. */
export function convTextures(s: ConvSpec): NonNullable<Kernel["textures"]> {
  const input = s.channelsFirstInput
    ? clipTexture([s.n, s.cin, ...s.input], benchLimits, s.pad)
    : activationTexture([s.n, s.cin, ...s.input], benchLimits, s.pad);
  return { input: input!, weights: weightTexture(s.cout, convWeightFloats(s), benchLimits)! };
}

/**
 * Wall-clock ms of one dispatch, as `csnc profile` times short kernels without timestamps: the
 * dispatch `repeats` times in one pass and one submit, so the submit and sync overhead is shared.
 */
export async function timeDispatch(
  device: GPUDevice,
  pipeline: GPUComputePipeline,
  group: GPUBindGroup,
  workgroups: readonly [number, number, number],
  repeats: number,
): Promise<number> {
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, group);
  for (let r = 0; r < repeats; r++) pass.dispatchWorkgroups(...workgroups);
  pass.end();
  const t = performance.now();
  device.queue.submit([encoder.finish()]);
  await device.queue.onSubmittedWorkDone();
  return (performance.now() - t) / repeats;
}
