// The checked graph as an ONNX model (opset 13), through the maintained `onnx-proto` encoding
// of the official onnx.proto. Layers map one to one: Conv (with group for depthwise and grouped
// convs), BatchNormalization, Relu, MaxPool, AveragePool, GlobalAveragePool, Flatten + Gemm for
// FC, Add, Softmax; dropout disappears. Outputs: `logits`, and `probabilities` (a Softmax).
import onnxProto from "onnx-proto";
import type { Graph, Node } from "./ir.js";

const { onnx } = onnxProto;

/** A weight of a layer: (layer path, `weight` | `bias` | `running_mean` | `running_var`). */
export type WeightLookup = (path: string, suffix: string) => Float32Array;

export const onnxOpset = 13;

/** protobuf's limit on one message, so on an ONNX file that holds its weights: 2 GiB. */
export const onnxMaxBytes = 2 ** 31 - 1;

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function tensorProto(name: string, dims: readonly number[], data: Float32Array) {
  // raw_data is little-endian float32: on such hosts the array's own bytes, without a copy.
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (!littleEndian) {
    bytes = new Uint8Array(data.length * 4);
    const view = new DataView(bytes.buffer);
    data.forEach((v, i) => view.setFloat32(4 * i, v, true));
  }
  return { name, dims: [...dims], dataType: onnx.TensorProto.DataType.FLOAT, rawData: bytes };
}

/** A layer's initializers as exportOnnx writes them: (suffix, dims), in input order. */
function initializerShapes(n: Node, graph: Graph): [string, number[]][] {
  const op = n.op;
  const inShape = graph.nodes[n.inputs[0] ?? 0]!.shape;
  switch (op.kind) {
    case "conv":
      return [
        ["weight", [op.outChannels, inShape[1] / op.groups, ...op.kernel]],
        ...(op.bias ? [["bias", [op.outChannels]] as [string, number[]]] : []),
      ];
    case "bn":
      return ["weight", "bias", "running_mean", "running_var"].map((k) => [k, [inShape[1]]]);
    case "fc":
      return [
        ["weight", [op.outFeatures, inShape[1] * inShape[2] * inShape[3] * inShape[4]]],
        ...(op.bias ? [["bias", [op.outFeatures]] as [string, number[]]] : []),
      ];
    default:
      return [];
  }
}

/**
 * The exported file's size in bytes, from the graph alone (before any weight exists): the
 * weights exactly, names and graph structure generously.
 */
export function onnxSize(graph: Graph): {
  total: number;
  weights: number;
  largest: { name: string; dims: number[]; bytes: number };
} {
  let weights = 0;
  let overhead = 1024;
  let largest = { name: "", dims: [] as number[], bytes: 0 };
  for (const n of graph.nodes) {
    overhead += 256 + 4 * n.path.length;
    for (const [suffix, dims] of initializerShapes(n, graph)) {
      const bytes = 4 * dims.reduce((a, b) => a * b, 1);
      weights += bytes;
      overhead += 64 + n.path.length + suffix.length;
      if (bytes > largest.bytes) largest = { name: `${n.path}.${suffix}`, dims, bytes };
    }
  }
  return { total: weights + overhead, weights, largest };
}

function ints(name: string, values: readonly number[]) {
  return { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...values] };
}
function int(name: string, value: number) {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i: value };
}
function float(name: string, value: number) {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value };
}

/** kernel_shape, strides and symmetric pads of a windowed op. */
function windowAttributes(op: {
  kernel: readonly number[];
  stride: readonly number[];
  pad: readonly number[];
}) {
  return [
    ints("kernel_shape", op.kernel),
    ints("strides", op.stride),
    ints("pads", [...op.pad, ...op.pad]),
  ];
}

function valueInfo(name: string, shape: readonly number[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: shape.map((d) => ({ dimValue: d })) },
      },
    },
  };
}

export function exportOnnx(
  graph: Graph,
  weight: WeightLookup,
  producerVersion = "0.1.0",
): Uint8Array {
  const nodes: object[] = [];
  const initializers: object[] = [];
  const tensorOf = new Map<number, string>();
  const rank2 = new Set<number>(); // tensors already flattened by an fc
  const name = (n: Node) => n.path;
  const inits = (n: Node) =>
    initializerShapes(n, graph).map(([suffix, dims]) => {
      const id = `${n.path}.${suffix}`;
      initializers.push(tensorProto(id, dims, weight(n.path, suffix)));
      return id;
    });

  for (const n of graph.nodes) {
    const x = tensorOf.get(n.inputs[0] ?? -1)!;
    const op = n.op;
    const out = name(n);
    // One ONNX node named as its layer, reading `input`, writing the layer's tensor.
    const emit = (opType: string, input: string[], attribute?: object[]) =>
      nodes.push({ name: out, opType, input, output: [out], ...(attribute ? { attribute } : {}) });
    switch (op.kind) {
      case "input":
        tensorOf.set(n.id, "input");
        continue;
      case "dropout":
        tensorOf.set(n.id, x);
        if (rank2.has(n.inputs[0]!)) rank2.add(n.id);
        continue;
      case "conv":
        emit("Conv", [x, ...inits(n)], [...windowAttributes(op), int("group", op.groups)]);
        break;
      case "bn":
        emit("BatchNormalization", [x, ...inits(n)], [float("epsilon", op.eps)]);
        break;
      case "relu":
        emit("Relu", [x]);
        break;
      case "maxpool":
        emit("MaxPool", [x], [...windowAttributes(op)]);
        break;
      case "avgpool":
        emit("AveragePool", [x], [...windowAttributes(op), int("count_include_pad", 1)]);
        break;
      case "global_avgpool":
        emit("GlobalAveragePool", [x]);
        break;
      case "fc": {
        let flat = x;
        if (!rank2.has(n.inputs[0]!)) {
          flat = `${out}.flatten`;
          nodes.push({
            name: flat,
            opType: "Flatten",
            input: [x],
            output: [flat],
            attribute: [int("axis", 1)],
          });
        }
        emit("Gemm", [flat, ...inits(n)], [int("transB", 1)]);
        rank2.add(n.id);
        break;
      }
      case "softmax":
        emit("Softmax", [x], [int("axis", 1)]);
        if (rank2.has(n.inputs[0]!)) rank2.add(n.id);
        break;
      case "add":
        emit("Add", [x, tensorOf.get(n.inputs[1]!)!]);
        break;
    }
    if (op.kind === "relu" && rank2.has(n.inputs[0]!)) rank2.add(n.id);
    tensorOf.set(n.id, out);
  }

  // Name the outputs: the logits, and their softmax as probabilities.
  const last = graph.nodes[graph.output]!;
  const endsInSoftmax = last.op.kind === "softmax";
  const logitsNode = endsInSoftmax ? graph.nodes[last.inputs[0]!]! : last;
  const shapeOf = (n: Node) => (rank2.has(n.id) ? [n.shape[0], n.shape[1]] : [...n.shape]);
  nodes.push({
    name: "logits",
    opType: "Identity",
    input: [tensorOf.get(logitsNode.id)!],
    output: ["logits"],
  });
  nodes.push(
    endsInSoftmax
      ? {
          name: "probabilities",
          opType: "Identity",
          input: [tensorOf.get(last.id)!],
          output: ["probabilities"],
        }
      : {
          name: "probabilities",
          opType: "Softmax",
          input: ["logits"],
          output: ["probabilities"],
          attribute: [int("axis", 1)],
        },
  );

  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: "csnc",
    producerVersion,
    opsetImport: [{ domain: "", version: onnxOpset }],
    graph: {
      name: graph.model,
      node: nodes,
      initializer: initializers,
      input: [valueInfo("input", graph.nodes[0]!.shape)],
      output: [
        valueInfo("logits", shapeOf(logitsNode)),
        valueInfo("probabilities", shapeOf(logitsNode)),
      ],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}
