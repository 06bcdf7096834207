// The API of a generated module, as its index.d.ts declares it: `csnc compile --emit module`
// copies this file's declarations (dist/runtime/module/types.d.ts) into every module, so it
// imports nothing and speaks to the module's user.

/** The `webgpu` package's namespace, as `await import("webgpu")` gives it. */
export interface WebGpuPackage {
  create(flags: string[]): GPU;
  readonly globals?: object;
}

export interface ModelInfo {
  /** The model's name in its .csn file. */
  readonly model: string;
  /** N x C x T x H x W, as compiled. */
  readonly input: readonly number[];
  readonly classes: number;
  /** Conv and FC weights and biases (BN excluded). */
  readonly params: number;
  /** Conv and FC multiply-adds per inference. */
  readonly macs: number;
  /** The WebGPU adapter in use (vendor / architecture / device / description), once loaded. */
  readonly adapter?: string;
  /** How it was reached: "vulkan", "opengles", "swiftshader", "browser", or "device" (yours). */
  readonly backend?: string;
  /** The weights' naming scheme (detected with "auto"). */
  readonly naming?: "csnc" | "vmz" | "mmaction2" | "pytorchvideo";
  /** The BN epsilon of the model's eps parameter, as folded into the weights. */
  readonly bnEps?: number;
}

export interface LoadOptions {
  /** A .safetensors file or PyTorch checkpoint (.pth, .pyth): URL string, file path (Node), ArrayBuffer or Uint8Array. */
  readonly weights?: string | ArrayBuffer | Uint8Array;
  /** He-normal random weights instead (as csnc run without --weights), for a first try. */
  readonly randomWeights?: boolean;
  /** Seed of the random weights; default 1, as csnc run --seed. */
  readonly seed?: number;
  /** Tensor names in the weights, as csnc run --naming; "auto" (default) recognises them. */
  readonly naming?: "auto" | "csnc" | "vmz" | "mmaction2" | "pytorchvideo";
  /** BN epsilon for the model's eps parameter; default: the weights' metadata or scheme (1e-5 for PyTorchVideo), else as compiled. */
  readonly eps?: number;
  /** A device to run on; by default the module acquires one (navigator.gpu, or Dawn in Node). */
  readonly device?: GPUDevice;
  /** Node only: the adapter, as csnc run --backend; "auto" takes a GPU, then llvmpipe, then SwiftShader. */
  readonly backend?: "auto" | "gpu" | "vulkan" | "swiftshader" | "opengles" | "llvmpipe";
  /** Node only: the 'webgpu' package (await import("webgpu")) when the module cannot import it from your app. */
  readonly webgpu?: WebGpuPackage;
}

export interface RunResult {
  /** N x classes. */
  readonly logits: Float32Array;
  readonly probabilities: Float32Array;
  /** Per sample, the five most probable classes. */
  readonly top: { readonly class: number; readonly probability: number }[][];
}

export interface LoadedModel {
  readonly info: ModelInfo;
  /** clip: Float32Array in N x 3 x T x H x W, as compiled. */
  run(clip: Float32Array): Promise<RunResult>;
  /** Many clips in order, pipelined (the upload of one and the readback of another overlap the compute of a third). */
  runMany(clips: Iterable<Float32Array> | AsyncIterable<Float32Array>): Promise<RunResult[]>;
  destroy(): void;
}
