// The inference graph: the checked IR after lowering for execution. Dropout is gone, every BN
// is folded into the conv before it (the numbers are folded at load time, from the weights),
// and elementwise epilogues ride on the conv that produces their input.
import type { IoFormats } from "./kernels/format.js";
import type { ConvAttrs, Op, PoolAttrs, Shape } from "./ir.js";
import { inferShape } from "./shapes.js";

export interface FoldedBn {
  /** Path of the BN layer whose statistics fold into the conv. */
  readonly path: string;
  readonly eps: number;
}

export type InferenceOp =
  | { readonly kind: "input" }
  | {
      readonly kind: "conv";
      readonly conv: ConvAttrs;
      readonly bn?: FoldedBn;
      /** ReLU right after the conv (and its BN). */
      readonly relu: boolean;
      /** inputs[1] is added after the conv (a residual); then `reluAfterAdd` may apply. */
      readonly residual: boolean;
      readonly reluAfterAdd: boolean;
    }
  | { readonly kind: "bn"; readonly eps: number }
  | { readonly kind: "relu" }
  | { readonly kind: "add"; readonly relu: boolean }
  | ({ readonly kind: "maxpool" } & PoolAttrs)
  | ({ readonly kind: "avgpool" } & PoolAttrs)
  | { readonly kind: "global_avgpool" }
  | { readonly kind: "fc"; readonly outFeatures: number; readonly bias: boolean }
  | { readonly kind: "softmax" };

export interface InferenceNode {
  readonly id: number;
  /** Path of the layer that names this step (the conv's, for fused steps). */
  readonly path: string;
  /** Every source layer this step carries out, for profiles and errors. */
  readonly layers: readonly string[];
  readonly op: InferenceOp;
  readonly inputs: readonly number[];
  /** Logical N, C, T, H, W; activations are stored channels-last (N, T, H, W, C). */
  readonly shape: Shape;
  /** Execution order key; nodes are kept sorted by it. */
  readonly order: number;
  /**
   * How the step's kernel stores what it reads and writes (`--precision f16-storage`, set by
   * plan/formats.ts after the passes); absent: float32.
   */
  readonly formats?: IoFormats;
}

export interface InferenceGraph {
  readonly model: string;
  readonly nodes: readonly InferenceNode[];
  /** The logits tensor and the probabilities tensor (softmax over the logits). */
  readonly logits: number;
  readonly probabilities: number;
}

const arity: Record<InferenceOp["kind"], number> = {
  input: 0,
  conv: 1,
  bn: 1,
  relu: 1,
  add: 2,
  maxpool: 1,
  avgpool: 1,
  global_avgpool: 1,
  fc: 1,
  softmax: 1,
};

/** The checked-IR op whose shape rule an inference op follows. */
function irOp(op: InferenceOp): Op {
  if (op.kind === "conv") return { kind: "conv", ...op.conv };
  if (op.kind === "add") return { kind: "add" };
  return op;
}

const sameShape = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);

/**
 * Checks run after every pass in tests: ids unique, inputs computed before use, the schedule
 * sorted by `order`, each op's arity, each node's shape recomputed from its inputs' with the
 * checker's rules (a residual operand must match the conv's output), and epilogue flags that
 * make sense. Every tensor is f32, so there are no dtypes to check. Linear in the graph's size.
 */
export function verify(g: InferenceGraph): string[] {
  const problems: string[] = [];
  const byId = new Map<number, InferenceNode>();
  let lastOrder = -Infinity;
  for (const n of g.nodes) {
    if (byId.has(n.id)) problems.push(`duplicate node id ${n.id}`);
    if (!(n.order > lastOrder)) problems.push(`${n.path} is out of schedule order`);
    lastOrder = n.order;
    const want = arity[n.op.kind] + (n.op.kind === "conv" && n.op.residual ? 1 : 0);
    if (n.inputs.length !== want)
      problems.push(`${n.path} (${n.op.kind}) has ${n.inputs.length} inputs, expected ${want}`);
    const inputs = n.inputs.map((i) => byId.get(i));
    inputs.forEach((x, k) => {
      if (!x) problems.push(`${n.path} uses node ${n.inputs[k]} before it is computed`);
    });
    if (n.op.kind === "conv" && n.op.reluAfterAdd && !n.op.residual)
      problems.push(`${n.path} has a ReLU after an add it does not have`);
    if (n.op.kind === "conv" && n.op.relu && n.op.residual)
      problems.push(`${n.path} has both a ReLU before its residual add and the add`);
    if (n.op.kind !== "input" && inputs.length === n.inputs.length && inputs.every(Boolean)) {
      const shapes = inputs.map((x) => x!.shape);
      const r = inferShape(irOp(n.op), n.op.kind === "conv" ? shapes.slice(0, 1) : shapes);
      if (!("shape" in r)) problems.push(`${n.path}: ${r.message}`);
      else if (!sameShape(r.shape, n.shape))
        problems.push(
          `${n.path} has shape ${n.shape.join("x")}, its inputs give ${r.shape.join("x")}`,
        );
      if (n.op.kind === "conv" && n.op.residual && !sameShape(shapes[1]!, n.shape))
        problems.push(`${n.path} adds a ${shapes[1]!.join("x")} residual to ${n.shape.join("x")}`);
    }
    byId.set(n.id, n);
  }
  if (!byId.has(g.logits)) problems.push("logits are not computed");
  if (!byId.has(g.probabilities)) problems.push("probabilities are not computed");
  return problems;
}

/** One line per node, for `--dump-after`: id, op with its fused epilogue, inputs, shape, layers. */
export function formatGraph(g: InferenceGraph): string {
  const lines = [`graph ${g.model}: logits %${g.logits}, probabilities %${g.probabilities}`];
  for (const n of g.nodes) {
    let op: string = n.op.kind;
    if (n.op.kind === "conv") {
      const c = n.op.conv;
      const epilogue = [
        n.op.bn ? `bn(${n.op.bn.path})` : "",
        n.op.relu ? "relu" : "",
        n.op.residual ? "add" : "",
        n.op.reluAfterAdd ? "relu" : "",
      ].filter(Boolean);
      op = `conv(${c.outChannels}, ${c.kernel.join("x")}, stride ${c.stride.join("x")}, pad ${c.pad.join("x")}, groups ${c.groups}${c.bias ? ", bias" : ""})`;
      if (epilogue.length) op += ` +${epilogue.join("+")}`;
    } else if (n.op.kind === "add" && n.op.relu) op = "add +relu";
    const inputs = n.inputs.map((i) => `%${i}`).join(", ");
    lines.push(
      `%${n.id} = ${op}(${inputs}) : ${n.shape.join("x")}  # ${n.path} [${n.layers.join(", ")}]`,
    );
  }
  return lines.join("\n") + "\n";
}
