// Which tensors `--precision f16-storage` (and `f16`, the same bytes) stores as halves: every
// tensor whose producing kernel writes whole vec4 units (four halves, two u32s: no two
// invocations share a u32), and the clip (the host or the frames kernel writes it in whole
// u32s). Kernels that write scalars (channels not in fours, the naive baseline) keep float32
// outputs, and so do the logits and the probabilities, which the host reads (whichever step
// writes them). Weights are all halves. Each step is annotated with the formats of what its
// kernel reads and writes, and with f16 its arithmetic, so generators need no graph.
import type { InferenceGraph, InferenceNode } from "../inference.js";
import { canVectorise } from "../kernels/conv-pointwise.js";
import { convSpec, convVariant } from "../kernels/select.js";
import type { Format, IoFormats, Precision } from "../kernels/format.js";

/** Whether `n`'s kernel writes vec4 units of its output. */
function writesVec4(n: InferenceNode, input: InferenceNode | undefined, naive: boolean): boolean {
  const c = n.shape[1] % 4 === 0;
  switch (n.op.kind) {
    case "input":
      return true;
    case "conv": {
      if (naive) return false;
      const s = convSpec(n, input!);
      const layout = convVariant(n.op.conv, s.cin);
      if (layout === "pointwise") return canVectorise(s);
      if (layout === "depthwise") return c;
      return (s.cout / s.groups) % 4 === 0;
    }
    case "fc":
    case "softmax":
      return false;
    default:
      return c;
  }
}

/** `g` with every step's formats under `precision` (float32: `g` itself). */
export function withFormats(
  g: InferenceGraph,
  precision: Precision,
  naive: boolean,
): InferenceGraph {
  if (precision === "f32") return g;
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const stored = new Map<number, Format>();
  for (const n of g.nodes)
    stored.set(n.id, writesVec4(n, byId.get(n.inputs[0]!), naive) ? "f16" : "f32");
  // The host reads these as float32, whatever wrote them; softmax reads float32 (an f32 vec4
  // store is always legal, so its producer can write one).
  stored.set(g.logits, "f32");
  stored.set(g.probabilities, "f32");
  for (const n of g.nodes) if (n.op.kind === "softmax") stored.set(n.inputs[0]!, "f32");
  const at = (id: number | undefined): Format => (id === undefined ? "f32" : stored.get(id)!);
  const nodes = g.nodes.map((n): InferenceNode => ({
    ...n,
    formats: {
      input: at(n.inputs[0]),
      residual: at(n.inputs[1]),
      output: at(n.id),
      weights: "f16",
      // The same halves either way; --precision f16 also multiplies in them.
      ...(precision === "f16" ? { arith: "f16" as const } : {}),
    } satisfies IoFormats,
  }));
  return { ...g, nodes };
}

/** How the tensor `n` writes is stored. */
export const storedFormat = (n: InferenceNode): Format => n.formats?.output ?? "f32";
