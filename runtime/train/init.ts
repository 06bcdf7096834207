// Starting tensors for training: a checkpoint's, matched to the program by the naming scheme it
// was read in, or fresh ones initialised as VMZ/torchvision do (Kaiming normal, fan-out, for
// convs; N(0, 0.01) for the classifier; BN weight 1, bias 0, running mean 0, var 1). A classifier
// whose class count differs from the checkpoint's is re-initialised (fine-tuning on new classes).
import type { TrainProgram } from "../../compiler/train/program.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { tensorPrefix, type Naming } from "../naming.js";
import type { Tensor } from "../safetensors.js";
import { normals } from "../random.js";
import { expectedTrainTensors } from "./trainer.js";

// Mixed, not `seed || 1`: seeds 0 and 1 give different weights.
const normalSource = (seed: number) =>
  normals((Math.imul(seed >>> 0, 0x9e3779b1) + 0x7f4a7c15) >>> 0);

/** A fresh tensor for `name` of `shape`, as PyTorch's video models initialise it. */
function initial(
  name: string,
  shape: readonly number[],
  classifier: boolean,
  normal: () => number,
) {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  if (name.endsWith(".running_var")) data.fill(1);
  else if (shape.length === 1) data.fill(name.endsWith(".weight") && !classifier ? 1 : 0);
  else {
    const fanOut = n / shape[1]!;
    const std = classifier ? 0.01 : Math.sqrt(2 / fanOut);
    for (let i = 0; i < n; i++) data[i] = normal() * std;
  }
  return data;
}

/**
 * A classifier made afresh for fine-tuning on new classes: weight N(0, 0.01) from its own
 * stream of `seed` (so `csnc import --set classes=K` and `csnc train --weights` agree), bias 0.
 */
export function freshClassifier(classes: number, features: number, seed = 1): Float32Array {
  const normal = normalSource(seed ^ 0x5bd1e995);
  return Float32Array.from({ length: classes * features }, () => 0.01 * normal());
}

export interface StartingTensors {
  readonly tensors: Map<string, Float32Array>;
  /** Layers started afresh (every one without a checkpoint; the classifier on new classes). */
  readonly initialised: readonly string[];
  readonly notes: readonly string[];
}

export function startingTensors(
  program: TrainProgram,
  seed: number,
  checkpoint?: {
    readonly tensors: ReadonlyMap<string, Tensor>;
    readonly naming: Naming;
    readonly file: string;
  },
): StartingTensors {
  const normal = normalSource(seed);
  const classifier = program.classifier;
  const tensors = new Map<string, Float32Array>();
  const wanted = expectedTrainTensors(program);
  if (!checkpoint) {
    for (const t of wanted)
      tensors.set(t.name, initial(t.name, t.shape, t.name.startsWith(`${classifier}.`), normal));
    return { tensors, initialised: ["every layer"], notes: [] };
  }
  const paths = new Set(program.params.map((p) => p.layer));
  const nameIn = (csnc: string) => {
    const dot = csnc.lastIndexOf(".");
    const prefix = tensorPrefix(csnc.slice(0, dot), checkpoint.naming, paths);
    return prefix === undefined ? undefined : `${prefix}${csnc.slice(dot)}`;
  };
  const problems: string[] = [];
  const notes: string[] = [];
  const used = new Set<string>();
  // The classifier on other classes than the checkpoint's is re-initialised, never an error.
  const fcWeight = classifier && checkpoint.tensors.get(nameIn(`${classifier}.weight`) ?? "");
  const fcShape = wanted.find((t) => t.name === `${classifier}.weight`)?.shape;
  const newClasses =
    fcWeight &&
    fcShape &&
    fcWeight.shape.length === 2 &&
    fcWeight.shape[1] === fcShape[1] &&
    fcWeight.shape[0] !== fcShape[0];
  if (newClasses)
    notes.push(
      `${checkpoint.file}: its classifier ${nameIn(`${classifier}.weight`)!.replace(/\.weight$/, "")} has ${fcWeight.shape[0]} classes and the model ${program.classes}: re-initialised for fine-tuning`,
    );
  for (const t of wanted) {
    const name = nameIn(t.name);
    if (newClasses && t.name.startsWith(`${classifier}.`)) {
      if (name) used.add(name);
      tensors.set(
        t.name,
        t.shape.length === 2
          ? freshClassifier(t.shape[0]!, t.shape[1]!, seed)
          : new Float32Array(t.shape[0]!),
      );
      continue;
    }
    const got = name === undefined ? undefined : checkpoint.tensors.get(name);
    if (name) used.add(name);
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (!got)
      problems.push(`missing tensor ${name ?? t.name} (expected shape ${t.shape.join("x")})`);
    else if (!got.data) problems.push(`tensor ${name} has dtype ${got.dtype}; expected float`);
    else if (
      got.data.length !== n ||
      got.shape.length !== t.shape.length ||
      got.shape.some((d, i) => d !== t.shape[i])
    )
      problems.push(
        `tensor ${name} has shape ${got.shape.join("x")}; expected ${t.shape.join("x")}`,
      );
    else tensors.set(t.name, got.data);
  }
  for (const [name, t] of checkpoint.tensors)
    if (!used.has(name) && t.data && !name.startsWith("momentum."))
      problems.push(
        `unexpected tensor ${name} (${t.shape.join("x")}): the model has no such layer`,
      );
  if (problems.length) {
    const shown = problems.slice(0, 12).map((p) => `  ${p}`);
    if (problems.length > 12) shown.push(`  ... and ${problems.length - 12} more`);
    throw new CsncError(
      RuntimeCodes.missingTensor,
      `${checkpoint.file}: the weights do not match the model:\n${shown.join("\n")}`,
    );
  }
  return { tensors, initialised: newClasses ? [classifier!] : [], notes };
}

/** A csnc tensor name (`res2.0.conv_a.weight`) in the naming scheme of a checkpoint. */
export function schemeName(program: TrainProgram, name: string, naming: Naming): string {
  const paths = new Set(program.params.map((p) => p.layer));
  const dot = name.lastIndexOf(".");
  const layer = tensorPrefix(name.slice(0, dot), naming, paths) ?? name.slice(0, dot);
  return `${layer}${name.slice(dot)}`;
}
