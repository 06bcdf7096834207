// The backward pass of one forward group: its parameters' gradients and its gradient
// contributions to its inputs (each written by a store that applies the destination's ReLU
// mask and overwrites or adds), in the reverse of the forward order (build.ts).
import type { KernelLimits } from "../kernels/common.js";
import type { Node } from "../ir.js";
import type { Group } from "./groups.js";
import * as bn from "./kernels/batchnorm.js";
import * as conv from "./kernels/conv.js";
import * as ew from "./kernels/elementwise.js";
import * as fc from "./kernels/fc.js";
import * as pool from "./kernels/pool.js";
import type { GradStore } from "./kernels/wgsl.js";
import type { TrainKernel, TrainParam, TrainPhase } from "./program.js";
import {
  bnGeometry,
  convGeometry,
  elements,
  fcGeometry,
  gapShape,
  poolGeometry,
  triple,
} from "./geometry.js";

/** A forward value: its buffer, and its gradient as the backward pass makes it. */
export interface Value {
  readonly buffer: number;
  readonly node: Node;
  /** The value is a ReLU's output: its gradient slot holds the pre-ReLU gradient. */
  readonly masked: boolean;
  needsGrad: boolean;
  /** Gradient contributions still to come, and the slot once made. */
  contributions: number;
  grad?: number;
  /** How the backward pass remakes the value instead of keeping it (and the buffer once made). */
  readonly remake?: { readonly kernel: TrainKernel; readonly inputs: readonly number[] };
  remade?: number;
}

export interface GroupState {
  readonly group: Group;
  readonly out: Value;
  readonly own: TrainParam[];
  readonly saved: number[];
}

export interface BackwardContext {
  readonly batch: number;
  readonly limits: KernelLimits;
  valueOf(id: number): Value;
  step(phase: TrainPhase, layer: string, kernel: TrainKernel, ids: readonly number[]): void;
  /** The value's buffer for a backward step (remade if it was not kept). */
  kept(v: Value): number;
  /** The store of the next contribution to v's gradient, and the buffers it binds. */
  store(v: Value): { store: GradStore; ids: number[] };
  /** dy reaches v unchanged (a residual's shortcut, a ReLU). */
  pass(v: Value, dy: number, layer: string): void;
  gradOf(p: TrainParam): number;
}

export function emitBackward(c: BackwardContext, s: GroupState): void {
  const { batch, limits, valueOf, step, kept, store, pass, gradOf } = c;
  const { group: g, out, own } = s;
  const node = g.node;
  const op = node.op;
  const ins = g.inputs.map(valueOf);
  const x = ins[0]!;
  const dy = out.grad;
  if (dy === undefined) return; // the value reaches no loss
  const path = node.path;
  switch (op.kind) {
    case "conv": {
      const geo = convGeometry(x.node, node);
      const [w, b] = own;
      if (!w!.frozen)
        step("backward", path, conv.convBackwardWeight(geo, limits), [kept(x), dy, gradOf(w!)]);
      if (b && !b.frozen) {
        const k = conv.channelSum(batch, op.outChannels, elements(triple(node.shape)), limits);
        step("backward", path, k, [dy, gradOf(b)]);
      }
      if (x.needsGrad) {
        const st = store(x);
        step("backward", path, conv.convBackwardData(geo, st.store, limits), [
          dy,
          w!.buffer,
          ...st.ids,
        ]);
      }
      break;
    }
    case "bn": {
      const geo = bnGeometry(node, op.eps);
      const [gamma, beta] = own as [TrainParam, TrainParam];
      const stats = s.saved[0]!;
      const dg = gradOf(gamma);
      const db = gradOf(beta);
      step("backward", path, bn.bnBackwardReduce(geo, limits), [x.buffer, dy, stats, dg, db]);
      if (x.needsGrad) {
        const st = store(x);
        step("backward", path, bn.bnBackwardApply(geo, st.store, limits), [
          x.buffer,
          dy,
          stats,
          gamma.buffer,
          dg,
          db,
          ...st.ids,
        ]);
      }
      if (g.residual) pass(ins[1]!, dy, path);
      break;
    }
    case "add":
      pass(x, dy, path);
      pass(ins[1]!, dy, path);
      break;
    case "relu":
      // The slot already holds the pre-ReLU gradient (masked by its writers).
      pass(x, dy, path);
      break;
    case "maxpool":
      if (x.needsGrad) {
        const st = store(x);
        const k = pool.maxPoolBackward(poolGeometry(x.node, node), st.store, limits);
        step("backward", path, k, [dy, s.saved[0]!, ...st.ids]);
      }
      break;
    case "global_avgpool":
      if (x.needsGrad) {
        const st = store(x);
        const k = pool.globalAvgPoolBackward(...gapShape(x.node), st.store, limits);
        step("backward", path, k, [dy, ...st.ids]);
      }
      break;
    case "dropout":
      if (x.needsGrad) {
        const st = store(x);
        const k = ew.dropoutBackward(elements(node.shape), op.p, node.id, st.store, limits);
        step("backward", path, k, [dy, ...st.ids]);
      }
      break;
    case "fc": {
      const geo = fcGeometry(x.node, op.outFeatures);
      const [w, b] = own;
      if (!w!.frozen)
        step("backward", path, fc.fcBackwardWeight(geo, op.bias, limits), [
          x.buffer,
          dy,
          gradOf(w!),
          ...(b ? [gradOf(b)] : []),
        ]);
      if (x.needsGrad) {
        const st = store(x);
        step("backward", path, fc.fcBackwardData(geo, st.store, limits), [
          dy,
          w!.buffer,
          ...st.ids,
        ]);
      }
      break;
    }
  }
}
