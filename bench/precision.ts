// `npm run bench:precision -- [--model models/ir-csn-50.csn] [--input 3x8x112x112]
// [--backends opengles,swiftshader] [--iterations 5] [--no-append]`: float32 against f16 storage
// on each CPU adapter, in one run: the plan's memory (activations, textures, weights), the median
// latency (the two precisions alternate, so drift hits both alike) and, on the PyTorch fixtures
// the tests use, the relative L2 error of the logits and whether the top-1 class holds. Prints
// a table and appends it to BENCHMARKS.md.
import { appendFileSync, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { checkFile, type Graph, type Value } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import type { Precision } from "../compiler/kernels/format.js";
import { tuningFor } from "../compiler/kernels/tuning.js";
import { columns, table } from "../cli/format.js";
import { human } from "../cli/format.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { requestDevice } from "../runtime/device.js";
import { median } from "../runtime/profile.js";
import { randomInput } from "../runtime/random-input.js";
import { readSafetensors } from "../runtime/safetensors.js";
import { createSession, type Session } from "../runtime/session.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "models/ir-csn-50.csn" },
    input: { type: "string", default: "3x8x112x112" },
    backends: { type: "string", default: "opengles,swiftshader" },
    iterations: { type: "string", default: "5" },
    "no-append": { type: "boolean", default: false },
  },
});
const log = (s: string) => process.stderr.write(s + "\n");
const iterations = Number(args.iterations);
const input = args.input!.split("x").map(Number);
if (
  !Number.isInteger(iterations) ||
  iterations < 1 ||
  input.length !== 4 ||
  input.some((d) => !(d >= 1))
) {
  log("bench:precision: --iterations must be a positive integer and --input C x T x H x W");
  process.exit(2);
}
const precisions: Precision[] = ["f32", "f16-storage"];

function model(
  file: string,
  set: Record<string, number>,
  shape: readonly number[],
  batch: number,
): Graph {
  const setValues = new Map(
    Object.entries(set).map(([k, v]): [string, Value] => [k, { type: "int", value: v }]),
  );
  const dims = shape as [number, number, number, number];
  const r = checkFile(file, projectRoot(file), nodeHost, { input: dims, batch, set: setValues });
  if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.graphs[0]!;
}

/** relL2 and top-1 agreement against PyTorch on the fixture networks (test/fixtures/models). */
const fixtures: [string, string, Record<string, number>][] = [
  ["ir-csn-50-w8", "ir-csn-50.csn", { width: 8, classes: 10 }],
  ["ip-csn-50-w8", "ip-csn-50.csn", { width: 8, classes: 10 }],
  ["resnet3d-50-w4", "resnet3d-50.csn", { width: 4, classes: 7 }],
];

function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

const top1 = (x: ArrayLike<number>, n: number) =>
  [...Array(n).keys()].map((i) => {
    const k = x.length / n;
    let best = 0;
    for (let j = 1; j < k; j++) if (x[i * k + j]! > x[i * k + best]!) best = j;
    return best;
  });

async function main() {
  const file = path.resolve(args.model!);
  const rows: string[][] = [];
  const errors: string[][] = [];
  let adapters = "";
  for (const backend of args.backends!.split(",") as Backend[]) {
    const acquired = await acquireAdapter(backend);
    adapters += `\n- ${acquired.backend}: ${acquired.description}`;
    const device = await requestDevice(acquired.adapter);
    const tuning = tuningFor(acquired.adapter.info);
    const graph = model(file, {}, input, 1);
    const sessions = new Map<Precision, Session>();
    for (const precision of precisions)
      sessions.set(
        precision,
        await createSession({ graph, tuning, precision, weights: { random: 1 }, device }),
      );
    const clip = randomInput(sessions.get("f32")!.plan.input.shape, 1);
    for (const s of sessions.values()) await s.run(clip); // first use: the driver compiles
    const ms = new Map<Precision, number[]>(precisions.map((p) => [p, []]));
    for (let i = 0; i < iterations; i++)
      for (const p of precisions) {
        const t = performance.now();
        await sessions.get(p)!.run(clip);
        ms.get(p)!.push(performance.now() - t);
      }
    const base = sessions.get("f32")!.plan.memory;
    for (const p of precisions) {
      const m = sessions.get(p)!.plan.memory;
      const peak = m.activationBytes + m.textureBytes;
      rows.push([
        acquired.backend,
        p,
        `${human(m.activationBytes)}B`,
        `${human(m.textureBytes)}B`,
        `${(peak / (base.activationBytes + base.textureBytes)).toFixed(3)}`,
        `${human(m.weightBytes)}B`,
        median(ms.get(p)!).toFixed(1),
        (median(ms.get(p)!) / median(ms.get("f32")!)).toFixed(2),
      ]);
      log(`  ${acquired.backend} ${p}: ${median(ms.get(p)!).toFixed(1)} ms`);
    }
    for (const s of sessions.values()) s.destroy();

    for (const [name, modelFile, set] of fixtures) {
      const dir = path.resolve("test/fixtures/models", name);
      const io = readSafetensors(readFileSync(path.join(dir, "io.safetensors")), name).tensors;
      const x = io.get("input")!;
      const expected = io.get("logits")!.data!;
      const [n, ...chw] = x.shape;
      const tensors = readSafetensors(readFileSync(path.join(dir, "weights.safetensors")), name);
      const s = await createSession({
        graph: model(path.resolve("models", modelFile), set, chw, n!),
        tuning,
        precision: "f16-storage",
        weights: { tensors: tensors.tensors, naming: "vmz", source: name },
        device,
      });
      const out = await s.run(x.data!);
      s.destroy();
      const same = top1(out.logits, n!).join() === top1(expected, n!).join();
      errors.push([
        acquired.backend,
        name,
        relL2(out.logits, expected).toExponential(2),
        same ? "yes" : "NO",
      ]);
    }
    device.destroy();
  }
  const cpu = `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} threads`;
  const command = `npm run bench:precision -- ${process.argv.slice(2).join(" ")}`.trim();
  const head = columns(
    ["adapter", "precision"],
    ["activations", "textures", "peak vs f32", "weights", "median ms", "vs f32"],
  );
  const report = `${path.basename(file)} at 1x${input.join("x")}, ${iterations} runs each, alternating; ${cpu}\nAdapters:${adapters}\n\n${table(head, rows)}\n\nf16 storage against PyTorch (the test fixtures' logits):\n\n${table(columns(["adapter", "fixture"], ["relative L2", "same top-1"]), errors)}`;
  console.log(report);
  if (!args["no-append"])
    appendFileSync(
      path.resolve("BENCHMARKS.md"),
      `\n## f16 storage against float32 (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)\n\nMachine: ${cpu}, ${(os.totalmem() / 2 ** 30) | 0} GiB; command: \`${command}\`\n\n\`\`\`\n${report}\n\`\`\`\n`,
    );
  process.exit(0);
}

await main();
