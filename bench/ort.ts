// ONNX Runtime CPU, the peer `npm run bench` measures csnc against.
import * as ort from "onnxruntime-node";
import type { Graph } from "../compiler/index.js";
import { exportOnnx } from "../compiler/onnx.js";
import { median, p90 } from "../runtime/profile.js";
import { randomInput } from "../runtime/random-input.js";
import type { Tensor } from "../runtime/safetensors.js";

/** ONNX Runtime CPU's median and p90 ms on csnc's ONNX export of `graph`, after two warm-ups. */
export async function timeOrt(
  graph: Graph,
  tensors: ReadonlyMap<string, Tensor>,
  threads: number,
  iterations: number,
) {
  const bytes = exportOnnx(graph, (layer, suffix) => tensors.get(`${layer}.${suffix}`)!.data!);
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const input = new ort.Tensor("float32", randomInput(graph.nodes[0]!.shape, 1), [
    ...graph.nodes[0]!.shape,
  ]);
  for (let i = 0; i < 2; i++) await session.run({ input });
  const ms: number[] = [];
  for (let i = 0; i < Math.max(5, iterations); i++) {
    const t = performance.now();
    await session.run({ input });
    ms.push(performance.now() - t);
  }
  return { medianMs: median(ms), p90Ms: p90(ms) };
}
