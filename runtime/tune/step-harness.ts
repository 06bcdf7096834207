// One inference step on its own, for the tuner: the step's logical input, residual and weights
// drawn once, then each candidate kernel bound to them in its own storage (buffer or texture,
// weights packed in its own layout), timed, and its output read back to compare with the
// default variant's.
import type { Candidate } from "../../compiler/kernels/candidates.js";
import { f32Io, storedBytes, texelFormat, type Format } from "../../compiler/kernels/format.js";
import { fromHalves, toHalves } from "../../compiler/kernels/halves.js";
import type { TextureShape } from "../../compiler/kernels/limits.js";
import { stagingCopies, texelBytes, writeClipTexels } from "../../compiler/kernels/texture.js";
import { packLayer, type LayerTensors } from "../../compiler/kernels/weights.js";
import type { InferenceNode } from "../../compiler/inference.js";
import type { ClipLayout } from "../../compiler/kernels/select.js";
import { guarded } from "../device.js";
import { align } from "../executor/resources.js";
import { BufferUsage, MapMode, TextureUsage } from "../executor/gpu-flags.js";
import { toChannelsLast } from "../executor/host-layout.js";

const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A step of the inference graph: the node, its first input and its residual (a fused add's). */
export interface Step {
  readonly node: InferenceNode;
  readonly input: InferenceNode;
  readonly residual?: InferenceNode;
  /** How the model's clip is laid out, for a step that reads it. */
  readonly clip: ClipLayout;
}

/** The step's data, drawn once and shared by every candidate. */
export interface StepData {
  /** Channels-first, as the graph holds it. */
  readonly input: Float32Array;
  readonly residual?: Float32Array;
  readonly layer: LayerTensors;
}

/** Uniform in [-1, 1) from a seeded LCG: the same data for every candidate and run. */
function uniform(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2147483648 - 1) * scale;
  }
  return out;
}

export function stepData(step: Step, seed: number): StepData {
  const { node, input, residual } = step;
  const op = node.op;
  const layer: { -readonly [K in keyof LayerTensors]: LayerTensors[K] } = {};
  if (op.kind === "conv") {
    const c = op.conv;
    const fanIn = (input.shape[1]! / c.groups) * elements(c.kernel);
    layer.weight = uniform(c.outChannels * fanIn, seed + 1, Math.sqrt(3 / fanIn));
    layer.bias = uniform(c.outChannels, seed + 2, 0.1);
    if (op.bn) {
      const n = c.outChannels;
      const variance = uniform(n, seed + 3).map((x) => 1 + 0.5 * x);
      layer.bn = {
        gamma: uniform(n, seed + 4).map((x) => 1 + 0.2 * x),
        beta: uniform(n, seed + 5, 0.1),
        mean: uniform(n, seed + 6, 0.1),
        variance,
        eps: op.bn.eps,
      };
    }
  }
  return {
    input: uniform(elements(input.shape), seed + 7),
    ...(residual ? { residual: uniform(elements(residual.shape), seed + 8) } : {}),
    layer,
  };
}

/** A candidate bound to the step's data: dispatch it, time it, read its output. */
export interface BoundCandidate {
  /** Records `repeats` dispatches into an open pass. */
  dispatch(pass: GPUComputePassEncoder, repeats: number): void;
  /** Records the staging copy a texture-reading kernel needs in the model (none for the clip). */
  stage?(commands: GPUCommandEncoder): void;
  /** Its output, channels-last. */
  read(): Promise<Float32Array>;
  destroy(): void;
}

function texture(device: GPUDevice, shape: TextureShape, made: GPUTexture[]) {
  const t = device.createTexture({
    size: [shape.width, shape.height],
    format: texelFormat(shape.format ?? "f32"),
    usage: TextureUsage.TEXTURE_BINDING | TextureUsage.COPY_DST,
  });
  made.push(t);
  return t;
}

export async function bindCandidate(
  device: GPUDevice,
  step: Step,
  data: StepData,
  c: Candidate,
  pipeline: GPUComputePipeline,
): Promise<BoundCandidate> {
  const k = c.kernel;
  const { node, input } = step;
  const buffers: GPUBuffer[] = [];
  const textures: GPUTexture[] = [];
  const formats = node.formats ?? f32Io;
  // Values as a buffer of `format` would hold them: floats, or halves.
  const stored = (values: Float32Array, format: Format) =>
    (format === "f16" ? toHalves(values) : values) as ArrayBufferView<ArrayBuffer>;
  const storage = (values: Float32Array, format: Format) => {
    const data = stored(values, format);
    const b = device.createBuffer({
      size: align(data.byteLength),
      usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC,
    });
    device.queue.writeBuffer(b, 0, data);
    buffers.push(b);
    return b;
  };
  const clipAsGiven = input.op.kind === "input" && step.clip === "ncthw";
  let stage: BoundCandidate["stage"];
  const resource = (role: (typeof k.bindings)[number]): GPUBindingResource => {
    switch (role) {
      case "input": {
        const t = k.textures?.input;
        if (!t) {
          const values = clipAsGiven ? data.input : toChannelsLast(data.input, input.shape);
          return { buffer: storage(values, formats.input) };
        }
        const tex = texture(device, t, textures);
        if (t.per === 1 && input.op.kind === "input") {
          const floats = t.width * t.height * 4;
          const texels = t.format === "f16" ? new Uint16Array(floats) : new Float32Array(floats);
          writeClipTexels(texels, t.width, data.input, input.shape, t);
          device.queue.writeTexture(
            { texture: tex },
            texels as ArrayBufferView<ArrayBuffer>,
            { bytesPerRow: texelBytes(t) * t.width, rowsPerImage: t.height },
            [t.width, t.height],
          );
        } else {
          const src = storage(toChannelsLast(data.input, input.shape), formats.input);
          const copies = stagingCopies(input.shape, t);
          stage = (commands) => {
            for (const copy of copies)
              commands.copyBufferToTexture(
                {
                  buffer: src,
                  offset: copy.offset,
                  bytesPerRow: copy.bytesPerRow,
                  rowsPerImage: copy.rows,
                },
                { texture: tex, origin: copy.origin },
                [copy.width, copy.rows],
              );
          };
          const commands = device.createCommandEncoder();
          stage(commands);
          device.queue.submit([commands.finish()]);
        }
        return tex.createView();
      }
      case "weights": {
        const packed = packLayer(k.weights!, data.layer);
        const shape = k.textures?.weights;
        if (!shape) return { buffer: storage(packed, formats.weights) };
        const tex = texture(device, shape, textures);
        device.queue.writeTexture(
          { texture: tex },
          stored(packed, formats.weights),
          { bytesPerRow: texelBytes(shape) * shape.width, rowsPerImage: shape.height },
          [shape.width, shape.height],
        );
        return tex.createView();
      }
      case "residual":
        return {
          buffer: storage(toChannelsLast(data.residual!, step.residual!.shape), formats.residual),
        };
      case "output":
        return { buffer: storage(new Float32Array(elements(node.shape)), formats.output) };
    }
  };
  const outputs = elements(node.shape);
  const outputBytes = storedBytes(outputs, formats.output);
  return guarded(device, `binding ${k.name} for ${node.path}`, () => {
    const entries = k.bindings.map((role, binding) => ({ binding, resource: resource(role) }));
    const out = (entries[k.bindings.indexOf("output")]!.resource as GPUBufferBinding).buffer;
    const group = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    return {
      ...(stage ? { stage } : {}),
      dispatch(pass, repeats) {
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        for (let r = 0; r < repeats; r++) pass.dispatchWorkgroups(...k.dispatch);
      },
      async read() {
        const rb = device.createBuffer({
          size: align(outputBytes),
          usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
        });
        const commands = device.createCommandEncoder();
        commands.copyBufferToBuffer(out, 0, rb, 0, align(outputBytes));
        device.queue.submit([commands.finish()]);
        await rb.mapAsync(MapMode.READ);
        const range = rb.getMappedRange().slice(0, outputBytes);
        const values =
          formats.output === "f16"
            ? fromHalves(new Uint16Array(range), outputs)
            : new Float32Array(range);
        rb.unmap();
        rb.destroy();
        return values;
      },
      destroy() {
        for (const x of [...buffers, ...textures]) x.destroy();
      },
    };
  });
}
