// `npm run bench:train -- [--backends opengles,swiftshader] [--warmup 2] [--steps 5]`: training
// throughput (clips/s of SGD steps: forward, loss, backward, update) per adapter for a few
// models, warm-up steps excluded, with a rough per-phase split: the forward pass alone (the
// evaluation-mode forward, `evaluate`), forward + backward (`gradients`, which also reads the
// gradients back) and the rest of a step (the SGD update) by difference. Prints a table.
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { columns, human, table } from "../cli/format.js";
import { checkFile, type Graph, type Value } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import type { Backend } from "../runtime/adapter-node.js";
import { median } from "../runtime/profile.js";
import { startingTensors } from "../runtime/train/init.js";
import { createNodeTrainer } from "../runtime/train/node.js";
import { synthClips } from "../runtime/train/synth.js";

const { values: args } = parseArgs({
  options: {
    backends: { type: "string", default: "opengles,swiftshader" },
    warmup: { type: "string", default: "2" },
    steps: { type: "string", default: "5" },
    /** Timed steps on SwiftShader (about 10x slower), when fewer are wanted there. */
    "swiftshader-steps": { type: "string", default: "3" },
    models: { type: "string", default: "" },
    "no-phases": { type: "boolean", default: false },
  },
});
const log = (s: string) => process.stderr.write(s + "\n");
const count = (name: "warmup" | "steps" | "swiftshader-steps", min: number) => {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min) {
    log(`bench:train: --${name} must be an integer >= ${min}, got '${args[name]}'`);
    process.exit(2);
  }
  return v;
};
const warmup = count("warmup", 1);
const steps = count("steps", 1);
const swiftSteps = count("swiftshader-steps", 1);
const backends = args.backends!.split(",").filter(Boolean) as Backend[];

interface Case {
  readonly key: string;
  readonly label: string;
  readonly file: string;
  readonly set: Readonly<Record<string, number>>;
  readonly input: readonly [number, number, number, number];
  readonly batch: number;
}
const cases: Case[] = [
  {
    key: "ir-csn-26",
    label: "ir-CSN-26 w8",
    file: "models/ir-csn-26.csn",
    set: { width: 8, classes: 4 },
    input: [3, 8, 32, 32],
    batch: 8,
  },
  {
    key: "resnet3d-26",
    label: "ResNet3D-26 w8",
    file: "models/resnet3d-26.csn",
    set: { width: 8, classes: 4 },
    input: [3, 8, 32, 32],
    batch: 8,
  },
  {
    key: "ir-csn-50",
    label: "ir-CSN-50 w4",
    file: "models/ir-csn-50.csn",
    set: { width: 4, classes: 5 },
    input: [3, 8, 32, 32],
    batch: 2,
  },
];
const wanted = args.models ? new Set(args.models.split(",")) : undefined;
const selected = cases.filter((c) => !wanted || wanted.has(c.key));
if (!selected.length) {
  log(`bench:train: --models names none of ${cases.map((c) => c.key).join(", ")}`);
  process.exit(2);
}

function graphOf(c: Case): Graph {
  const file = path.resolve(c.file);
  const set = Object.entries(c.set).map(([k, v]): [string, Value] => [
    k,
    { type: "int", value: v },
  ]);
  const r = checkFile(file, projectRoot(file), nodeHost, {
    set: new Map(set),
    input: [...c.input],
    batch: c.batch,
  });
  if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.graphs[0]!;
}

async function time(run: () => Promise<unknown>, n: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await run();
    ms.push(performance.now() - t);
  }
  return median(ms);
}

async function main() {
  const rows: (string[] | null)[] = [];
  const adapters = new Map<string, string>();
  for (const backend of backends) {
    const n = backend === "swiftshader" ? swiftSteps : steps;
    for (const c of selected) {
      const node = await createNodeTrainer({
        graph: graphOf(c),
        backend,
        tensors: (program) => ({ tensors: startingTensors(program, 1).tensors }),
      });
      for (const note of node.notes) log(`bench:train: ${note}`);
      const p = node.program;
      adapters.set(node.adapter.backend, node.adapter.description);
      const data = synthClips({
        classes: p.classes,
        clips: p.batch,
        frames: c.input[1],
        size: c.input[2],
        seed: 7,
      });
      const batch = { input: data.input, labels: data.labels };
      let step = 0;
      const hyper = () => ({ lr: 0.01, momentum: 0.9, weightDecay: 1e-4, seed: 1, step: step++ });
      const t0 = performance.now();
      await node.trainer.step(batch, hyper());
      const firstMs = performance.now() - t0;
      for (let i = 1; i < warmup; i++) await node.trainer.step(batch, hyper());
      const stepMs = await time(() => node.trainer.step(batch, hyper()), n);
      let phases = ["", "", ""];
      if (!args["no-phases"]) {
        await node.trainer.evaluate(data.input); // first use of the evaluation pipelines
        const forwardMs = await time(() => node.trainer.evaluate(data.input), n);
        await node.trainer.gradients(batch, hyper());
        const gradMs = await time(() => node.trainer.gradients(batch, hyper()), n);
        phases = [
          forwardMs.toFixed(0),
          Math.max(0, gradMs - forwardMs).toFixed(0),
          Math.max(0, stepMs - gradMs).toFixed(0),
        ];
      }
      const flops = p.steps.reduce((a, s) => a + s.kernel.flops, 0);
      const macs = p.steps
        .filter((s) => s.phase === "forward")
        .reduce((a, s) => a + s.kernel.flops / 2 / p.batch, 0);
      const clipsPerSecond = (1000 * p.batch) / stepMs;
      rows.push([
        c.label,
        `${p.batch}x${p.clip.join("x")}`,
        node.adapter.backend === "opengles" ? "llvmpipe" : node.adapter.backend,
        human(macs),
        String(p.steps.length),
        (firstMs / 1000).toFixed(1),
        stepMs.toFixed(0),
        clipsPerSecond.toFixed(2),
        (flops / stepMs / 1e6).toFixed(2),
        ...phases,
      ]);
      log(
        `  ${c.label} on ${node.adapter.backend}: ${stepMs.toFixed(0)} ms a step, ${clipsPerSecond.toFixed(2)} clips/s (first step ${(firstMs / 1000).toFixed(1)} s)`,
      );
      node.destroy();
    }
    rows.push(null);
  }
  rows.pop();
  const head = columns(
    ["model", "N x C x T x H x W", "adapter"],
    [
      "MACs/clip",
      "dispatches",
      "first s",
      "ms/step",
      "clips/s",
      "GFLOP/s",
      "fwd ms",
      "bwd ms",
      "update ms",
    ],
  );
  const cpu = `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} threads`;
  const described = [...adapters].map(([b, d]) => `${b}: ${d}`).join("\n");
  console.log(
    `Training throughput, ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC; ${cpu}\n${described}\n\n${table(head, rows)}\n\nms/step: median of ${steps} SGD steps (${swiftSteps} on SwiftShader) after ${warmup} warm-up steps (the first one, with the driver's shader compiles, is "first s"); clips/s = batch / step. GFLOP/s counts every kernel's multiply-adds x 2 (forward, backward, update). fwd = evaluation-mode forward; bwd = gradients() (training forward + loss + backward + reading the gradients back) - fwd; update = step - gradients(): a rough split.`,
  );
  process.exit(0);
}

await main();
