// Test helpers for WebGPU: one device per backend per test file, and a model run both on the
// GPU and on the float64 reference executor.
import type { CheckOptions, Graph } from "../compiler/index.js";
import type { KernelLimits } from "../compiler/kernels/common.js";
import type { Tuning } from "../compiler/kernels/tuning.js";
import type { Precision } from "../compiler/kernels/format.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { requestDevice } from "../runtime/device.js";
import type { Tensor } from "../runtime/safetensors.js";
import type { Naming } from "../runtime/naming.js";
import { createSession } from "../runtime/session.js";
import type { ModelCase } from "./fixtures.js";
import { checkSource, rendered, shippedModel } from "./helpers.js";
import { runReference, softmax } from "./reference/executor.js";

const devices = new Map<string, Promise<{ device: GPUDevice; description: string }>>();

/** The shared device of a CPU backend (SwiftShader or llvmpipe through OpenGL ES). */
export function gpuDevice(backend: Backend) {
  let d = devices.get(backend);
  if (!d) {
    d = acquireAdapter(backend).then(async (a) => ({
      device: await requestDevice(a.adapter),
      description: a.description,
    }));
    devices.set(backend, d);
  }
  return d;
}

export function buildGraph(src: string, options: CheckOptions = {}): Graph {
  const r = checkSource(src, options);
  if (r.diagnostics.length) throw new Error(rendered(r));
  return r.graphs[0]!;
}

export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

/** Relative L2 error ||a - b|| / ||b||. */
export function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/** Runs `graph` on the GPU of `backend` with the given weights and input. */
export async function runGpu(
  backend: Backend,
  graph: Graph,
  input: Float32Array,
  tensors: ReadonlyMap<string, Tensor> | "random",
  o: {
    naming?: Naming;
    limits?: Partial<KernelLimits>;
    tuning?: Tuning;
    seed?: number;
    precision?: Precision;
  } = {},
) {
  const { device } = await gpuDevice(backend);
  const session = await createSession({
    graph,
    // The tests' own choices, not the adapter's defaults.
    tuning: o.tuning ?? {},
    limits: o.limits,
    precision: o.precision ?? "f32",
    weights:
      tensors === "random"
        ? { random: o.seed ?? 7 }
        : { tensors, naming: o.naming ?? "csnc", source: "test weights" },
    device,
  });
  try {
    return { plan: session.plan, weights: session.tensors, ...(await session.run(input)) };
  } finally {
    session.destroy();
  }
}

export interface DifferentialOptions {
  readonly seed?: number;
  /** Overrides of the device's limits, e.g. a tiny grid to force folding. */
  readonly limits?: Partial<KernelLimits>;
  readonly tuning?: Tuning;
  readonly precision?: Precision;
}

/** Runs `graph` with random weights on the GPU and on the reference executor. */
export async function differential(backend: Backend, graph: Graph, o: DifferentialOptions = {}) {
  const seed = o.seed ?? 7;
  const input = randomArray(
    graph.nodes[0]!.shape.reduce((a, b) => a * b, 1),
    seed + 1,
  );
  const out = await runGpu(backend, graph, input, "random", o);
  const ref = runReference(graph, input, new Map([...out.weights].map(([k, v]) => [k, v.data!])));
  const last = graph.nodes.at(-1)!;
  const expected = last.op.kind === "softmax" ? ref.get(last.inputs[0]!)! : ref.get(last.id)!;
  return {
    plan: out.plan,
    error: relL2(out.logits, expected.data),
    probabilitiesError: relL2(out.probabilities, softmax(expected).data),
  };
}

/** A PyTorch model fixture (VMZ names) on `backend`, its tensors read from buffers or textures. */
export function runFixture(
  backend: Backend,
  c: ModelCase,
  o: { textures: boolean; precision?: Precision },
) {
  const [n, ...chw] = c.input.shape;
  const graph = shippedModel(c.model, c.set, chw, n!);
  return runGpu(backend, graph, c.input.data!, c.weights, {
    naming: "vmz",
    tuning: { textures: o.textures },
    precision: o.precision,
  });
}
