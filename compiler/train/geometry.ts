// The shapes the training kernels are generated for, read off the graph IR's nodes.
import type { Node } from "../ir.js";
import type { BnGeometry } from "./kernels/batchnorm.js";
import type { ConvGeometry } from "./kernels/conv.js";
import type { FcGeometry } from "./kernels/fc.js";
import type { PoolGeometry } from "./kernels/pool.js";

export const elements = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
export const triple = (s: readonly number[]) => [s[2]!, s[3]!, s[4]!] as const;

export function convGeometry(x: Node, node: Node): ConvGeometry {
  const op = node.op as Extract<Node["op"], { kind: "conv" }>;
  return {
    n: x.shape[0],
    cin: x.shape[1],
    cout: op.outChannels,
    groups: op.groups,
    in: triple(x.shape),
    out: triple(node.shape),
    kernel: op.kernel,
    stride: op.stride,
    pad: op.pad,
  };
}

export function bnGeometry(node: Node, eps: number): BnGeometry {
  return {
    n: node.shape[0],
    channels: node.shape[1],
    positions: elements(triple(node.shape)),
    eps,
  };
}

export function poolGeometry(x: Node, node: Node): PoolGeometry {
  const op = node.op as Extract<Node["op"], { kind: "maxpool" }>;
  return {
    planes: x.shape[0] * x.shape[1],
    in: triple(x.shape),
    out: triple(node.shape),
    kernel: op.kernel,
    stride: op.stride,
    pad: op.pad,
  };
}

export const gapShape = (x: Node): [number, number] => [
  x.shape[0] * x.shape[1],
  elements(triple(x.shape)),
];

export function fcGeometry(x: Node, outFeatures: number): FcGeometry {
  return { n: x.shape[0], features: elements(x.shape) / x.shape[0], outFeatures };
}
