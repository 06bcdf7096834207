// `npm run bench:train-memory -- [--shape 1x3x8x112x112]`: the training memory plan of the
// shipped networks, no GPU needed. For each: the bytes of activations, gradients and saved
// statistics as planned (buffers shared by lifetime), with and without the BN(+ReLU)
// recomputation; the live-bytes bound (the most bytes bound at once, which no sharing beats);
// and the same buffers unshared. Parameters, their gradients and momentum are not counted.
import * as path from "node:path";
import { parseArgs } from "node:util";
import { checkFile } from "../compiler/index.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { buildTrainProgram } from "../compiler/train/build.js";
import { persistentKinds, type TrainProgram } from "../compiler/train/program.js";

const { values: args } = parseArgs({
  options: {
    shape: { type: "string", default: "1x3x8x112x112" },
    models: { type: "string", default: "ir-csn-50,ip-csn-50,resnet3d-50" },
  },
});
const [batch, ...input] = args.shape!.split("x").map(Number) as [number, ...number[]];
const MiB = (b: number) => (b / 2 ** 20).toFixed(1);

/** The most transient bytes bound by the steps at any one step. */
function liveBound(p: TrainProgram): number {
  const first = new Map<number, number>();
  const last = new Map<number, number>();
  p.steps.forEach((s, i) =>
    s.buffers.forEach((b) => {
      if (!first.has(b)) first.set(b, i);
      last.set(b, i);
    }),
  );
  const delta = new Array<number>(p.steps.length + 1).fill(0);
  for (const b of p.buffers)
    if (!persistentKinds.has(b.kind) && first.has(b.id)) {
      delta[first.get(b.id)!]! += 4 * b.elements;
      delta[last.get(b.id)! + 1]! -= 4 * b.elements;
    }
  let live = 0;
  let peak = 0;
  for (const d of delta) peak = Math.max(peak, (live += d));
  return peak;
}

console.log(
  `training memory plan at ${args.shape} (MiB of activations, gradients and saved statistics)\n`,
);
console.log("| model | recompute | planned | live bound | unshared |");
console.log("|---|---|---|---|---|");
for (const name of args.models!.split(",")) {
  const file = path.resolve(import.meta.dirname, "../models", `${name}.csn`);
  const r = checkFile(file, projectRoot(file), nodeHost, {
    input: input as [number, number, number, number],
    batch,
  });
  if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  for (const recompute of [true, false]) {
    const p = buildTrainProgram(r.graphs[0]!, {
      limits: unlimitedLimits,
      dropout: false,
      recompute,
    });
    console.log(
      `| ${name} | ${recompute ? "on" : "off"} | ${MiB(p.transientBytes)} | ${MiB(liveBound(p))} | ${MiB(p.unsharedBytes)} |`,
    );
  }
}
