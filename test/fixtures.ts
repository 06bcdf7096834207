// The PyTorch-made golden data in test/fixtures (copied from the project's shared fixtures), turned into csnc programs and inputs.
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { readSafetensors, type Tensor } from "../runtime/safetensors.js";

export const fixturesDir = path.resolve(import.meta.dirname, "fixtures");

export interface OpCase {
  readonly name: string;
  /** A one-layer model computing the op. */
  readonly source: string;
  readonly batch: number;
  readonly input: Float32Array;
  readonly output: Tensor;
  /** Weights under csnc names (`conv.weight`, `bn.running_mean`, ...). */
  readonly weights: Map<string, Tensor>;
  /** Whether the expected output is the model's probabilities (softmax) rather than its logits. */
  readonly probabilities: boolean;
}

const dims = (s: string) => (JSON.parse(s) as number[]).join("x");

export function opCases(): OpCase[] {
  const dir = path.join(fixturesDir, "ops");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors"))
    .sort()
    .map((file) => {
      const { tensors, metadata } = readSafetensors(readFileSync(path.join(dir, file)), file);
      const input = tensors.get("input")!;
      const output = tensors.get("output")!;
      const [n, c, t = 1, h = 1, w = 1] = input.shape;
      let layer: string;
      let prefix = "";
      switch (metadata.op) {
        case "conv3d": {
          const weight = tensors.get("weight")!;
          const [cout, , kt, kh, kw] = weight.shape;
          layer = `conv(${cout}, ${kt}x${kh}x${kw}, stride = ${dims(metadata.stride!)}, pad = ${dims(metadata.padding!)}, groups = ${metadata.groups}, bias = ${tensors.has("bias")})`;
          prefix = "conv";
          break;
        }
        case "batchnorm3d":
          layer = `bn(eps = ${metadata.eps})`;
          prefix = "bn";
          break;
        case "maxpool3d":
          layer = `maxpool(${dims(metadata.kernel!)}, stride = ${dims(metadata.stride!)}, pad = ${dims(metadata.padding!)})`;
          break;
        case "global_avgpool3d":
          layer = "avgpool";
          break;
        case "linear":
          layer = `fc(${tensors.get("weight")!.shape[0]})`;
          prefix = "fc";
          break;
        case "softmax":
          layer = "softmax";
          break;
        default:
          throw new Error(`unknown fixture op ${metadata.op}`);
      }
      const weights = new Map<string, Tensor>();
      for (const [k, v] of tensors)
        if (k !== "input" && k !== "output") weights.set(`${prefix}.${k}`, v);
      return {
        name: file.replace(".safetensors", ""),
        source: `model m() {\n  input ${c}x${t}x${h}x${w}\n  ${layer}\n}`,
        batch: n!,
        input: input.data!,
        output,
        weights,
        probabilities: metadata.op === "softmax",
      };
    });
}

export interface ModelCase {
  readonly name: string;
  readonly model: string;
  readonly set: Record<string, number>;
  readonly meta: { input_shape_NCTHW: number[]; classes: number };
  readonly weights: ReadonlyMap<string, Tensor>;
  readonly input: Tensor;
  readonly logits: Tensor;
  readonly probabilities: Tensor;
}

/** The fixture networks: folder under models/, .csn file, parameters. */
const fixtureModels: [string, string, Record<string, number>][] = [
  ["ir-csn-50-w8", "ir-csn-50.csn", { width: 8, classes: 10 }],
  ["ip-csn-50-w8", "ip-csn-50.csn", { width: 8, classes: 10 }],
  ["resnet3d-50-w4", "resnet3d-50.csn", { width: 4, classes: 7 }],
];

/** A fixture network with its weights, and a clip with its logits from the file `io`. */
function modelCase(
  [folder, model, set]: (typeof fixtureModels)[number],
  io: string,
  name = folder,
): ModelCase {
  const dir = path.join(fixturesDir, "models", folder);
  const clip = readSafetensors(readFileSync(io), io).tensors;
  return {
    name,
    model,
    set,
    meta: JSON.parse(readFileSync(path.join(dir, "model.json"), "utf8")),
    weights: readSafetensors(readFileSync(path.join(dir, "weights.safetensors")), "weights")
      .tensors,
    input: clip.get("input")!,
    logits: clip.get("logits")!,
    probabilities: clip.get("probabilities")!,
  };
}

export function modelCases(): ModelCase[] {
  return fixtureModels.map((m) =>
    modelCase(m, path.join(fixturesDir, "models", m[0], "io.safetensors")),
  );
}

/**
 * Batch-1 clips of 1x3x8x64x64 through the ir-/ip-CSN-50-w8 fixture weights: res5 sees
 * N x T = 1 (the shape class behind llvmpipe's single-plane staging bug). Logits by PyTorch,
 * `batch1-t1/make.py`.
 */
export function batch1T1Cases(): ModelCase[] {
  return fixtureModels
    .slice(0, 2)
    .map((m) =>
      modelCase(
        m,
        path.join(fixturesDir, "batch1-t1", `${m[0]}.safetensors`),
        `${m[0]} batch 1, T reaching 1`,
      ),
    );
}
