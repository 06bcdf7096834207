// The GPU objects of a plan, made once: activation buffers, weights (buffers or textures),
// textures, pipelines and bind groups (the staging rings are executor/staging-ring.ts's).
import { texelFormat } from "../../compiler/kernels/format.js";
import { toHalves } from "../../compiler/kernels/halves.js";
import type { TextureShape } from "../../compiler/kernels/limits.js";
import { texelBytes } from "../../compiler/kernels/texture.js";
import { shaderKernel, type Plan } from "../../compiler/plan.js";
import { guarded } from "../device.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { BufferUsage, TextureUsage } from "./gpu-flags.js";

export interface Resources {
  readonly buffers: readonly GPUBuffer[];
  readonly weights: readonly (GPUBuffer | GPUTexture)[];
  readonly textures: readonly GPUTexture[];
}

/** Storage bindings are sized in multiples of 4 bytes, and never 0. */
export const align = (n: number) => Math.max(4, Math.ceil(n / 4) * 4);

/** Buffers and textures, the weights uploaded (as textures where the plan says, as halves where it says f16). */
export function createResources(
  device: GPUDevice,
  plan: Plan,
  weights: readonly Float32Array[],
): Promise<Resources> {
  const texture = (shape: TextureShape, label: string) =>
    device.createTexture({
      size: [shape.width, shape.height],
      format: texelFormat(shape.format ?? "f32"),
      usage: TextureUsage.TEXTURE_BINDING | TextureUsage.COPY_DST,
      label,
    });
  return guarded(device, "allocating buffers", () => {
    const buffers = plan.buffers.map((b) =>
      device.createBuffer({
        size: align(b.bytes),
        usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
        label: `activations ${b.id}`,
      }),
    );
    const uploaded = weights.map((floats, i): GPUBuffer | GPUTexture => {
      const { texture: shape, path, format } = plan.weights[i]!;
      const data = (format === "f16" ? toHalves(floats) : floats) as ArrayBufferView<ArrayBuffer>;
      if (shape) {
        const t = texture(shape, `weights ${path}`);
        device.queue.writeTexture(
          { texture: t },
          data,
          { bytesPerRow: texelBytes(shape) * shape.width, rowsPerImage: shape.height },
          [shape.width, shape.height],
        );
        return t;
      }
      const buffer = device.createBuffer({
        size: align(data.byteLength),
        usage: BufferUsage.STORAGE | BufferUsage.COPY_DST,
        label: `weights ${path}`,
      });
      device.queue.writeBuffer(buffer, 0, data);
      return buffer;
    });
    const textures = plan.textures.map((t) => texture(t, `${t.purpose} ${t.id}`));
    return { buffers, weights: uploaded, textures };
  });
}

/** One compute pipeline per shader; a WGSL error names the kernel (a csnc bug). */
export function createPipelines(device: GPUDevice, plan: Plan): Promise<GPUComputePipeline[]> {
  return Promise.all(
    plan.shaders.map(async (code, i) => {
      const module = device.createShaderModule({ code, label: `shader ${i}` });
      try {
        return await device.createComputePipelineAsync({
          layout: "auto",
          compute: { module, entryPoint: "main" },
        });
      } catch (e) {
        const info = await module.getCompilationInfo();
        const details = info.messages
          .map((m) => `  ${m.type} at line ${m.lineNum}:${m.linePos}: ${m.message}`)
          .join("\n");
        const name = shaderKernel(plan, i);
        throw new CsncError(
          RuntimeCodes.gpuError,
          `WebGPU could not compile ${name} (a csnc bug): ${(e as Error).message}\n${details}`,
        );
      }
    }),
  );
}

/** One bind group per dispatch, its bindings as the plan lists them. */
export function createBindGroups(
  device: GPUDevice,
  plan: Plan,
  r: Resources,
  pipelines: readonly GPUComputePipeline[],
): Promise<GPUBindGroup[]> {
  const tensor = new Map(plan.tensors.map((t) => [t.id, t]));
  return guarded(device, "binding the kernels", () =>
    plan.dispatches.map((d) =>
      device.createBindGroup({
        layout: pipelines[d.shader]!.getBindGroupLayout(0),
        entries: d.bindings.map((b, binding) => {
          if ("texture" in b) return { binding, resource: r.textures[b.texture]!.createView() };
          if ("weights" in b) {
            const w = r.weights[b.weights]!;
            return { binding, resource: "createView" in w ? w.createView() : { buffer: w } };
          }
          const t = tensor.get(b.tensor)!;
          return {
            binding,
            resource: { buffer: r.buffers[t.buffer]!, offset: 0, size: align(t.bytes) },
          };
        }),
      }),
    ),
  );
}

export function destroyResources(r: Resources): void {
  for (const x of [...r.buffers, ...r.weights, ...r.textures]) x.destroy();
}
