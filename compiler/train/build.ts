// Graph IR -> TrainProgram: the fused forward groups (groups.ts), the loss, the backward pass in
// reverse group order (each group's gradient contributions to its inputs: the first overwrites,
// later ones add; backward.ts), the checked SGD update (update.ts), then the memory plan
// (memory.ts).
import type { KernelLimits } from "../kernels/common.js";
import type { Graph } from "../ir.js";
import { groupGraph, TrainGraphError } from "./groups.js";
import * as bn from "./kernels/batchnorm.js";
import * as conv from "./kernels/conv.js";
import * as ew from "./kernels/elementwise.js";
import * as fc from "./kernels/fc.js";
import { softmaxCrossEntropy } from "./kernels/loss.js";
import * as pool from "./kernels/pool.js";
import type { GradStore } from "./kernels/wgsl.js";
import {
  bnGeometry,
  convGeometry,
  elements,
  fcGeometry,
  gapShape,
  poolGeometry,
} from "./geometry.js";
import { emitBackward, type GroupState, type Value } from "./backward.js";
import { planSlots } from "./memory.js";
import { emitUpdate, type BnStats } from "./update.js";
import type {
  TrainBuffer,
  TrainBufferKind,
  TrainKernel,
  TrainParam,
  TrainPhase,
  TrainProgram,
  TrainRunning,
  TrainStep,
} from "./program.js";

export { TrainGraphError } from "./groups.js";

export interface TrainOptions {
  readonly limits: KernelLimits;
  /** Layer paths or path prefixes (`stem`, `res2`, `res3.0.conv_a`) whose parameters stay fixed. */
  readonly freeze?: readonly string[];
  /** Dropout layers drop in training mode; false makes them the identity (csnc grad). */
  readonly dropout?: boolean;
  /**
   * Recompute BN(+ReLU) outputs in the backward pass from the BN input and statistics it keeps
   * anyway (one elementwise kernel) instead of saving them: about half the saved activations
   * of a conv-BN-ReLU chain. Default true.
   */
  readonly recompute?: boolean;
}

export function buildTrainProgram(graph: Graph, o: TrainOptions): TrainProgram {
  const limits = o.limits;
  const { groups, logits: logitsNode, aliases } = groupGraph(graph, o.dropout ?? true);
  const freeze = o.freeze ?? [];
  const layerPaths = graph.nodes.map((n) => n.path);
  for (const f of freeze)
    if (!layerPaths.some((p) => p === f || p.startsWith(`${f}.`)))
      throw new TrainGraphError(`--freeze ${f}: the model has no layer ${f} or under it`);
  const frozen = (path: string) => freeze.some((f) => path === f || path.startsWith(`${f}.`));

  const buffers: Omit<TrainBuffer, "slot">[] = [];
  const buffer = (name: string, kind: TrainBufferKind, count: number) => {
    buffers.push({ id: buffers.length, name, kind, elements: Math.max(1, count) });
    return buffers.length - 1;
  };
  const steps: TrainStep[] = [];
  const step = (phase: TrainPhase, layer: string, kernel: TrainKernel, ids: readonly number[]) =>
    steps.push({ phase, layer, kernel, buffers: ids });

  const inputNode = graph.nodes.find((n) => n.op.kind === "input")!;
  const batch = inputNode.shape[0];
  const classes = logitsNode.shape[1];
  const input = buffer("input", "input", elements(inputNode.shape));
  const labels = buffer("labels", "labels", batch);
  const loss = buffer("loss", "loss", 3);

  const values = new Map<number, Value>();
  const resolve = (id: number): number => (aliases.has(id) ? resolve(aliases.get(id)!) : id);
  const valueOf = (id: number) => values.get(resolve(id))!;
  values.set(inputNode.id, {
    buffer: input,
    node: inputNode,
    masked: false,
    needsGrad: false,
    contributions: 0,
  });

  const params: TrainParam[] = [];
  const running: TrainRunning[] = [];
  const bnStats: BnStats[] = [];
  const param = (layer: string, role: string, shape: readonly number[]) => {
    const name = `${layer}.${role}`;
    const isFrozen = frozen(layer);
    const p = {
      name,
      layer,
      shape,
      buffer: buffer(name, "param", elements(shape)),
      frozen: isFrozen,
    };
    params.push(p);
    return p;
  };
  // Gradient buffers of a group's parameters, made only for groups whose backward runs.
  const gradOf = (p: TrainParam): number => {
    const at = params.indexOf(p);
    const existing = params[at]!;
    if (existing.grad !== undefined) return existing.grad;
    const grad = buffer(`grad ${p.name}`, "param-grad", elements(p.shape));
    const momentum = p.frozen
      ? undefined
      : buffer(`momentum ${p.name}`, "momentum", elements(p.shape));
    params[at] = { ...existing, grad, ...(momentum !== undefined ? { momentum } : {}) };
    return grad;
  };

  const states: GroupState[] = [];

  // ---- forward
  for (const g of groups) {
    const node = g.node;
    const ins = g.inputs.map(valueOf);
    const x = ins[0]!;
    const isLogits = g.output.id === logitsNode.id;
    const outBuffer = buffer(
      `${g.output.path} out`,
      isLogits ? "logits" : "activation",
      elements(g.output.shape),
    );
    const own: TrainParam[] = [];
    const saved: number[] = [];
    let remake: Value["remake"];
    const op = node.op;
    switch (op.kind) {
      case "conv": {
        own.push(
          param(node.path, "weight", [op.outChannels, x.node.shape[1] / op.groups, ...op.kernel]),
        );
        if (op.bias) own.push(param(node.path, "bias", [op.outChannels]));
        const k = conv.convForward(
          convGeometry(x.node, node),
          { bias: op.bias, relu: g.relu },
          limits,
        );
        step("forward", node.path, k, [x.buffer, ...own.map((p) => p.buffer), outBuffer]);
        break;
      }
      case "bn": {
        const c = node.shape[1];
        own.push(param(node.path, "weight", [c]), param(node.path, "bias", [c]));
        const run = buffer(`${node.path} running`, "running", 2 * c);
        running.push({ layer: node.path, channels: c, buffer: run });
        const stats = buffer(`${node.path} statistics`, "saved", 3 * c);
        saved.push(stats);
        const geo = bnGeometry(node, op.eps);
        // A frozen BN that no gradient passes through normalises as in evaluation (its running
        // statistics), and keeps them: a frozen backbone is not re-normalised by small batches.
        const fixed = frozen(node.path) && !ins.some((v) => v.needsGrad);
        bnStats.push({ layer: node.path, geometry: geo, stats, frozen: fixed });
        step("forward", node.path, bn.bnStatistics(geo, limits, fixed), [x.buffer, stats, run]);
        const k = bn.bnNormalise(geo, { residual: g.residual, relu: g.relu }, limits);
        const normaliseInputs = [
          x.buffer,
          stats,
          own[0]!.buffer,
          own[1]!.buffer,
          ...(g.residual ? [ins[1]!.buffer] : []),
        ];
        step("forward", node.path, k, [...normaliseInputs, outBuffer]);
        // A residual's shortcut may itself be gone by then: only plain BN(+ReLU) is remade.
        if ((o.recompute ?? true) && !g.residual) remake = { kernel: k, inputs: normaliseInputs };
        break;
      }
      case "add":
        step("forward", node.path, ew.addForward(elements(node.shape), g.relu, limits), [
          x.buffer,
          ins[1]!.buffer,
          outBuffer,
        ]);
        break;
      case "relu":
        step("forward", node.path, ew.reluForward(elements(node.shape), limits), [
          x.buffer,
          outBuffer,
        ]);
        break;
      case "maxpool": {
        const arg = buffer(`${node.path} argmax`, "saved", elements(node.shape));
        saved.push(arg);
        step("forward", node.path, pool.maxPoolForward(poolGeometry(x.node, node), limits), [
          x.buffer,
          outBuffer,
          arg,
        ]);
        break;
      }
      case "global_avgpool":
        step("forward", node.path, pool.globalAvgPoolForward(...gapShape(x.node), limits), [
          x.buffer,
          outBuffer,
        ]);
        break;
      case "dropout":
        step("forward", node.path, ew.dropoutForward(elements(node.shape), op.p, node.id, limits), [
          x.buffer,
          outBuffer,
        ]);
        break;
      case "fc": {
        const features = elements(x.node.shape) / batch;
        own.push(param(node.path, "weight", [op.outFeatures, features]));
        if (op.bias) own.push(param(node.path, "bias", [op.outFeatures]));
        const k = fc.fcForward(
          fcGeometry(x.node, op.outFeatures),
          { bias: op.bias, relu: g.relu },
          limits,
        );
        step("forward", node.path, k, [x.buffer, ...own.map((p) => p.buffer), outBuffer]);
        break;
      }
      default:
        throw new TrainGraphError(`layer ${node.path}: csnc cannot train a ${op.kind} layer`);
    }
    const needsGrad = own.some((p) => !p.frozen) || ins.some((v) => v.needsGrad);
    const out: Value = {
      buffer: outBuffer,
      node: g.output,
      masked: g.relu,
      needsGrad,
      contributions: 0,
      ...(remake && !isLogits ? { remake } : {}),
    };
    values.set(g.output.id, out);
    states.push({ group: g, out, own, saved });
  }

  // ---- loss
  const logits = valueOf(logitsNode.id);
  const dlogits = buffer("grad logits", "gradient", elements(logitsNode.shape));
  step("loss", "loss", softmaxCrossEntropy(batch, classes), [logits.buffer, labels, loss, dlogits]);
  logits.grad = dlogits;
  if (logits.masked) {
    // Logits that are a ReLU's output: their slot holds the pre-ReLU gradient, masked here.
    logits.grad = buffer("grad logits (before the ReLU)", "gradient", elements(logitsNode.shape));
    const k = ew.passGradient(
      elements(logitsNode.shape),
      { accumulate: false, masked: true },
      limits,
    );
    step("loss", "loss", k, [dlogits, logits.grad, logits.buffer]);
  }

  // Contributions each value will receive: one per (backward-running consumer, input use).
  const runs = (s: GroupState) => s.out.needsGrad;
  for (const s of states)
    if (runs(s))
      for (const id of s.group.inputs) if (valueOf(id).needsGrad) valueOf(id).contributions++;

  // ---- backward
  /** The value's buffer for a backward step: remade at its first backward use if not kept. */
  const kept = (v: Value): number => {
    if (!v.remake) return v.buffer;
    if (v.remade === undefined) {
      v.remade = buffer(`${v.node.path} out (recomputed)`, "activation", elements(v.node.shape));
      step("backward", v.node.path, v.remake.kernel, [...v.remake.inputs, v.remade]);
    }
    return v.remade;
  };
  const store = (v: Value): { store: GradStore; ids: number[] } => {
    const accumulate = v.grad !== undefined;
    v.grad ??= buffer(`grad ${v.node.path} out`, "gradient", elements(v.node.shape));
    return {
      store: { accumulate, masked: v.masked },
      ids: [v.grad, ...(v.masked ? [kept(v)] : [])],
    };
  };
  /** dy reaches v unchanged: v's slot is dy's own when v has no other contribution nor mask. */
  const pass = (v: Value, dy: number, layer: string) => {
    if (!v.needsGrad) return;
    if (v.grad === undefined && v.contributions === 1 && !v.masked) {
      v.grad = dy;
      return;
    }
    const s = store(v);
    step("backward", layer, ew.passGradient(elements(v.node.shape), s.store, limits), [
      dy,
      ...s.ids,
    ]);
  };
  const context = { batch, limits, valueOf, step, kept, store, pass, gradOf };
  for (const s of [...states].reverse()) if (runs(s)) emitBackward(context, s);

  emitUpdate({ params, running, bnStats, loss, limits, step });

  const last = states.find((s) => s.out === logits);
  const classifier = last?.group.kind === "fc" ? last.group.node.path : undefined;
  const memory = planSlots(buffers, steps);
  return {
    model: graph.model,
    batch,
    clip: [inputNode.shape[1], inputNode.shape[2], inputNode.shape[3], inputNode.shape[4]],
    classes,
    ...(classifier ? { classifier } : {}),
    buffers: memory.buffers,
    slots: memory.slots,
    steps,
    params,
    running,
    input,
    labels,
    loss,
    logits: logits.buffer,
    transientBytes: memory.transientBytes,
    unsharedBytes: memory.unsharedBytes,
  };
}
