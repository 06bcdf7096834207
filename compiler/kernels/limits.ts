// The device limits kernels are shaped by, and the size of a texture they read.
import type { Format } from "./format.js";

/** The device limits kernels are shaped by (a subset of GPUSupportedLimits). */
export interface KernelLimits {
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxStorageBuffersPerShaderStage: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxBufferSize: number;
  /** Staging textures (the texture-input kernels) must fit in width and height. */
  readonly maxTextureDimension2D: number;
  /** Bytes of `var<workgroup>` memory a kernel may declare; absent means WebGPU's floor, 16384. */
  readonly maxComputeWorkgroupStorageSize?: number;
  /** Invocations along a workgroup's x (its kernels' workgroups are 1D); absent means 128. */
  readonly maxComputeWorkgroupSizeX?: number;
  /** The device has the `subgroups` feature (subgroupAdd and friends): absent means it has not. */
  readonly subgroups?: boolean;
}

/** WebGPU's floors, compatibility mode included, for the optional limits above. */
export const workgroupStorageFloor = 16384;
export const workgroupSizeXFloor = 128;

/** WebGPU's compatibility-mode defaults: what every adapter, llvmpipe included, can do. */
export const compatLimits: KernelLimits = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 128,
  maxStorageBuffersPerShaderStage: 4,
  maxStorageBufferBindingSize: 134217728,
  maxBufferSize: 268435456,
  maxTextureDimension2D: 4096,
};

/** No device in view (export, import, memory estimates): only the plan's structure matters. */
export const unlimitedLimits: KernelLimits = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: Number.MAX_SAFE_INTEGER,
  maxBufferSize: Number.MAX_SAFE_INTEGER,
  maxTextureDimension2D: 8192,
};

/** Width and height, in texels, of a texture a kernel reads. */
export interface TextureShape {
  readonly width: number;
  readonly height: number;
  /** `f16`: rgba16float texels (`--precision f16-storage`); absent: rgba32float. */
  readonly format?: Format;
}
