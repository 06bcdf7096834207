// The PyTorch-made SGD step of test/fixtures/train (ir-CSN-50 at width 4), its tensors under
// csnc names, for the training tests.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Graph } from "../compiler/ir.js";
import { tensorPrefix } from "../runtime/naming.js";
import { readSafetensors, type Tensor } from "../runtime/safetensors.js";
import { fixturesDir } from "./fixtures.js";
import { checkFile } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { shippedModel } from "./helpers.js";

export const trainDir = path.join(fixturesDir, "train", "ir-csn-50-w4");

const read = (file: string) =>
  readSafetensors(readFileSync(file), path.basename(file), { integers: true }).tensors;

export interface TrainFixture {
  readonly graph: Graph;
  /** Before the step, csnc names. */
  readonly tensors: Map<string, Float32Array>;
  readonly input: Float32Array;
  readonly labels: number[];
  readonly loss: number;
  /** csnc name -> PyTorch's gradient. */
  readonly grads: Map<string, Float32Array>;
  /** csnc name -> the tensor after one SGD step (lr 0.1, momentum 0.9, wd 1e-4). */
  readonly after: Map<string, Float32Array>;
  /** csnc name -> VMZ name. */
  readonly vmz: Map<string, string>;
}

/** The maintainers' step: ir-CSN-50-w4 on 2x3x8x32x32. */
export function trainFixture(): TrainFixture {
  return sgdStepFixture(trainDir, path.join(trainDir, "weights.safetensors"), [
    "ir-csn-50.csn",
    { width: 4, classes: 5 },
    [3, 8, 32, 32],
    2,
  ]);
}

/** test/fixtures/train-unseen (made by its make.py): ip-CSN-50-w8 and ResNet3D-50-w4 on 2x3x8x48x48. */
export function unseenFixtures(): (TrainFixture & { name: string })[] {
  const dir = path.join(fixturesDir, "train-unseen");
  const models = path.join(fixturesDir, "models");
  return [
    { name: "ip-csn-50-w8", model: ["ip-csn-50.csn", { width: 8, classes: 10 }] as const },
    { name: "resnet3d-50-w4", model: ["resnet3d-50.csn", { width: 4, classes: 7 }] as const },
  ].map(({ name, model }) => ({
    name,
    ...sgdStepFixture(path.join(dir, name), path.join(models, name, "weights.safetensors"), [
      model[0],
      model[1],
      [3, 8, 48, 48],
      2,
    ]),
  }));
}

function sgdStepFixture(
  dir: string,
  weights: string,
  model: Parameters<typeof shippedModel>,
): TrainFixture {
  const graph = shippedModel(...model);
  const paths = new Set(graph.nodes.map((n) => n.path));
  const vmz = new Map<string, string>();
  for (const n of graph.nodes) {
    const prefix = tensorPrefix(n.path, "vmz", paths);
    if (!prefix) continue;
    for (const k of ["weight", "bias", "running_mean", "running_var"])
      vmz.set(`${n.path}.${k}`, `${prefix}.${k}`);
  }
  const byCsnc = (m: ReadonlyMap<string, Tensor>, prefix = "") => {
    const out = new Map<string, Float32Array>();
    for (const [c, v] of vmz) {
      const t = m.get(prefix + v);
      if (t?.data) out.set(c, t.data);
    }
    return out;
  };
  const step = read(path.join(dir, "step.safetensors"));
  const labels = step.get("labels")!;
  return {
    graph,
    tensors: byCsnc(read(weights)),
    input: step.get("input")!.data!,
    labels: Array.from(labels.integers!, Number),
    loss: step.get("loss")!.data![0]!,
    grads: byCsnc(step, "grad."),
    after: byCsnc(read(path.join(dir, "after.safetensors"))),
    vmz,
  };
}

/** test/fixtures/train/tiny.csn: a stem, an ir bottleneck and the head, for quick training tests. */
export const tinyModel = path.join(fixturesDir, "train", "tiny.csn");

export function tinyGraph(batch: number): Graph {
  const r = checkFile(tinyModel, projectRoot(tinyModel), nodeHost, { batch });
  if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.graphs[0]!;
}
