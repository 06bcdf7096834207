// What the single-kernel benchmarks (kernels.ts, fusion.ts) share: the limits their kernels are
// generated for, a conv's texture inputs, and the timing of one kernel.
import { compatLimits, type Kernel, type TextureShape } from "../compiler/kernels/common.js";
import {
  convWeightFloats,
  prod,
  type ConvSpec,
  type ConvTextures,
} from "../compiler/kernels/conv-spec.js";
import { activationTexture, clipTexture, weightTexture } from "../compiler/kernels/texture.js";
import { median } from "../runtime/profile.js";

/** Compatibility-mode limits with the larger textures llvmpipe offers (16384). */
export const benchLimits = { ...compatLimits, maxTextureDimension2D: 16384 };

/** The input texture (bordered by the conv's padding) and weight texture a conv reads. */
export function convTextures(s: ConvSpec): ConvTextures {
  const input = s.channelsFirstInput
    ? clipTexture([s.n, s.cin, ...s.input], benchLimits, s.pad)
    : activationTexture([s.n, s.cin, ...s.input], benchLimits, s.pad);
  return { input: input!, weights: weightTexture(s.cout, convWeightFloats(s), benchLimits)! };
}

/** A kernel to time: its WGSL, its grid and its bindings in order. */
export interface TimedKernel {
  readonly wgsl: string;
  readonly dispatch: readonly [number, number, number];
  /** Per binding: a texture's shape, or a storage buffer's float count. */
  readonly resources: readonly (TextureShape | number)[];
}

/** A conv kernel with its input, weights (+ bias) and output, as textures where it reads them. */
export function convKernelToTime(s: ConvSpec, k: Kernel): TimedKernel {
  const floats = [s.n * s.cin * prod(s.input), convWeightFloats(s), s.n * s.cout * prod(s.output)];
  const shapes = [k.textures?.input, k.textures?.weights];
  return { wgsl: k.wgsl, dispatch: k.dispatch, resources: floats.map((n, i) => shapes[i] ?? n) };
}

/**
 * Median wall-clock ms of one dispatch over `runs` runs after a warm-up, on fresh bindings.
 * `repeats` dispatches go to a submit (as `csnc profile` times short kernels, so the submit and
 * sync overhead is shared); left out, 16 when a warm run takes under 2 ms, else 1.
 */
export async function timeKernel(
  device: GPUDevice,
  k: TimedKernel,
  runs: number,
  repeats?: number,
): Promise<{ ms: number; repeats: number }> {
  const pipeline = await device.createComputePipelineAsync({
    layout: "auto",
    compute: { module: device.createShaderModule({ code: k.wgsl }), entryPoint: "main" },
  });
  const made: (GPUBuffer | GPUTexture)[] = [];
  const entries = k.resources.map((r, binding) => {
    if (typeof r === "number") {
      const buffer = device.createBuffer({ size: 4 * r, usage: 0x80 }); // STORAGE
      made.push(buffer);
      return { binding, resource: { buffer } };
    }
    const texture = device.createTexture({
      size: [r.width, r.height],
      format: "rgba32float",
      usage: 0x04, // TEXTURE_BINDING
    });
    made.push(texture);
    return { binding, resource: texture.createView() };
  });
  const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
  await timeDispatch(device, pipeline, group, k.dispatch, 1); // first use
  repeats ??= (await timeDispatch(device, pipeline, group, k.dispatch, 1)) < 2 ? 16 : 1;
  const times: number[] = [];
  for (let i = 0; i < runs; i++)
    times.push(await timeDispatch(device, pipeline, group, k.dispatch, repeats));
  for (const m of made) m.destroy();
  return { ms: median(times), repeats };
}

/** Wall-clock ms of one dispatch, `repeats` of them in one pass and one submit. */
async function timeDispatch(
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
