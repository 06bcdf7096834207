// `npm run bench`: the same network and input on csnc (every WebGPU adapter available), ONNX
// Runtime CPU on csnc's own ONNX export, and a naive one-invocation-per-output conv baseline on
// the same adapter. Prints a table of medians and ratios and appends it to BENCHMARKS.md.
//   npm run bench -- [--model models/ir-csn-50.csn] [--shape 1x3x8x112x112] [--iterations 3]
//                    [--backends opengles,swiftshader,gpu] [--naive opengles|swiftshader|none]
//                    [--tune SECONDS] [--batch N] [--toggles a,b] [--no-append]
// --tune: also tune each adapter (csnc tune's tuner, that budget) and time the tuned plan beside
// the default one. --batch N: also throughput in clips/s: N clips through the pipelined
// runMany, the model compiled for batch N, and ONNX Runtime on a batch of N. --toggles: Dawn
// toggles enabled for csnc's adapters (e.g. disable_workgroup_init, skip_validation).
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { timeOrt } from "./ort.js";
import { compileGraph } from "../compiler/compile.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { checkFile, type Graph } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import type { Plan } from "../compiler/plan.js";
import { columns, human, table } from "../cli/format.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { tuningFor } from "../compiler/kernels/tuning.js";
import { requestDevice } from "../runtime/device.js";
import { kernelProfiles, median, p90 } from "../runtime/profile.js";
import { randomInput } from "../runtime/random-input.js";
import type { Tensor } from "../runtime/safetensors.js";
import { createSession, type DispatchTimes, type Session } from "../runtime/session.js";
import { lower } from "../compiler/passes/index.js";
import type { Tuning } from "../compiler/kernels/tuning.js";
import { isCpuAdapter, kernelLimits } from "../runtime/device.js";
import { tune } from "../runtime/tune/tuner.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "models/ir-csn-50.csn" },
    shape: { type: "string", default: "1x3x8x112x112" },
    iterations: { type: "string", default: "3" },
    backends: { type: "string", default: "gpu,swiftshader,opengles" },
    naive: { type: "string", default: "opengles" },
    tune: { type: "string", default: "0" },
    toggles: { type: "string", default: "" },
    batch: { type: "string", default: "1" },
    "no-append": { type: "boolean", default: false },
  },
});
/** A whole-number option, or exit with a message (a NaN would silently skip the work). */
function count(name: string, text: string | undefined, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${name} must be an integer of at least ${min}, got '${text}'\n`);
    process.exit(2);
  }
  return n;
}
const iterations = count("iterations", args.iterations, 1);
const tuneSeconds = count("tune", args.tune, 0);
const batch = count("batch", args.batch, 1);
const toggles = args.toggles ? args.toggles.split(",") : [];
const shape = args.shape!.split("x").map(Number);
const log = (s: string) => process.stderr.write(s + "\n");

function loadGraph(n = shape[0]): Graph {
  const file = path.resolve(args.model!);
  const r = checkFile(file, projectRoot(file), nodeHost, {
    input: shape.slice(1) as [number, number, number, number],
    batch: n,
  });
  if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.graphs[0]!;
}

interface Row {
  engine: string;
  adapter: string;
  medianMs: number;
  /** The 90th percentile (nearest rank): run-to-run tails that a median hides. */
  p90Ms?: number;
  note: string;
}

async function timeCsnc(
  graph: Graph,
  backend: Backend,
  tensors: ReadonlyMap<string, Tensor> | undefined,
  naive: boolean,
) {
  const acquired = await acquireAdapter(backend, { toggles });
  const device = await requestDevice(acquired.adapter);
  const weights = tensors ? { tensors, naming: "csnc" as const } : { random: 1 };
  try {
    const base = { ...tuningFor(acquired.adapter.info), naive };
    const time = async (tuning: Tuning, label: string) => {
      const session = await createSession({ graph, tuning, weights, device });
      const input = randomInput(session.plan.input.shape, 1);
      const runs = naive ? 1 : iterations;
      await session.run(input); // warm-up: first-use costs (pipeline caches, page faults)
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) {
        const t = performance.now();
        await session.run(input);
        ms.push(performance.now() - t);
        log(`  ${label} on ${acquired.backend}: ${ms.at(-1)!.toFixed(0)} ms`);
      }
      return { session, medianMs: median(ms), p90Ms: p90(ms), input };
    };
    const untuned = await time(base, naive ? "naive" : "csnc");
    const { session, medianMs, p90Ms } = untuned;
    const { plan } = session;
    const kernels = await session.profile();
    const throughput =
      !naive && batch > 1 ? await clipsPerSecond(session, untuned.input) : undefined;
    session.destroy();
    let tuned: { medianMs: number; p90Ms?: number; choices: number; tuneMs: number } | undefined;
    if (!naive && tuneSeconds > 0) {
      const limits = kernelLimits(device);
      log(`  tuning on ${acquired.backend} (${tuneSeconds} s budget)`);
      const r = await tune({
        graph: lower(graph),
        device,
        limits,
        tuning: base,
        budgetMs: tuneSeconds * 1000,
        cpu: isCpuAdapter(acquired.adapter),
      });
      const t = await time({ ...base, choices: r.choices }, "csnc tuned");
      t.session.destroy();
      tuned = {
        medianMs: t.medianMs,
        p90Ms: t.p90Ms,
        choices: Object.keys(r.choices).length,
        tuneMs: r.elapsedMs,
      };
    }
    return {
      acquired,
      plan,
      weights: session.tensors,
      medianMs,
      p90Ms,
      kernels,
      tuned,
      throughput,
    };
  } finally {
    device.destroy();
  }
}

/** Clips/s: one clip at a time, `batch` clips through runMany, the model compiled for `batch`. */
async function clipsPerSecond(session: Session, clip: Float32Array) {
  const clips = Array.from({ length: batch }, () => clip);
  const t0 = performance.now();
  for (const c of clips) await session.run(c);
  const sequential = (batch * 1000) / (performance.now() - t0);
  await session.runMany(clips);
  const t1 = performance.now();
  await session.runMany(clips);
  const pipelined = (batch * 1000) / (performance.now() - t1);
  return { sequential, pipelined };
}

function topKernels(plan: Plan, times: DispatchTimes, naive?: DispatchTimes): string {
  const rows = kernelProfiles(plan, times)
    .map((k, i) => ({ k, naive: naive?.ms[i] }))
    .sort((a, b) => b.k.ms - a.k.ms)
    .slice(0, 8)
    .map(({ k, naive }) => [
      k.path,
      k.kernel,
      k.ms.toFixed(2),
      `${(100 * k.share).toFixed(1)}%`,
      k.gflops.toFixed(2),
      k.gbps.toFixed(2),
      naive === undefined ? "" : `${(naive / k.ms).toFixed(1)}x`,
    ]);
  return table(columns(["layer", "kernel"], ["ms", "share", "GFLOP/s", "GB/s", "vs naive"]), rows);
}

/** Clips/s of each engine: one clip at a time, N pipelined, and a batch-N model. */
async function throughputTable(
  results: ReadonlyMap<string, Awaited<ReturnType<typeof timeCsnc>>>,
  tensors: ReadonlyMap<string, Tensor> | undefined,
  threads: number,
): Promise<string> {
  const batched = loadGraph(batch);
  const rows: string[][] = [];
  for (const [backend, r] of results) {
    if (!r.throughput) continue;
    const device = await requestDevice(
      (await acquireAdapter(backend as Backend, { toggles })).adapter,
    );
    const session = await createSession({
      graph: batched,
      tuning: tuningFor(device.adapterInfo ?? {}),
      weights: tensors ? { tensors, naming: "csnc" } : { random: 1 },
      device,
    });
    const input = randomInput(session.plan.input.shape, 1);
    await session.run(input);
    const t = performance.now();
    await session.run(input);
    const model = (batch * 1000) / (performance.now() - t);
    session.destroy();
    device.destroy();
    const { sequential, pipelined } = r.throughput;
    rows.push([
      `csnc on ${backend}`,
      sequential.toFixed(2),
      pipelined.toFixed(2),
      model.toFixed(2),
      `${(Math.max(pipelined, model) / sequential).toFixed(2)}x`,
    ]);
  }
  if (tensors) {
    const one = 1000 / (await timeOrt(loadGraph(1), tensors, threads, iterations)).medianMs;
    const many = (batch * 1000) / (await timeOrt(batched, tensors, threads, iterations)).medianMs;
    rows.push([
      "ONNX Runtime CPU",
      one.toFixed(2),
      "",
      many.toFixed(2),
      `${(many / one).toFixed(2)}x`,
    ]);
  }
  return `Throughput, clips/s (${batch} clips of ${shape.slice(1).join("x")}):\n\n${table(
    columns(
      ["engine"],
      ["one at a time", `${batch} via runMany`, `batch-${batch} model`, `best / one at a time`],
    ),
    rows,
  )}`;
}

async function main() {
  const graph = loadGraph();
  const threads = os.availableParallelism();
  const cpu = `${os.cpus()[0]?.model ?? "unknown CPU"}, ${threads} threads`;
  const macs = compileGraph(graph, unlimitedLimits).dispatches.reduce((a, d) => a + d.flops / 2, 0);
  log(
    `${graph.model} at ${shape.join("x")} (${human(macs)} multiply-adds incl. pooling) on ${cpu}`,
  );
  const rows: Row[] = [];
  const details: string[] = [];
  let tensors: ReadonlyMap<string, Tensor> | undefined;
  let csncCpuMs: number | undefined;
  const results = new Map<string, Awaited<ReturnType<typeof timeCsnc>>>();
  for (const backend of args.backends!.split(",") as Backend[]) {
    try {
      const r = await timeCsnc(graph, backend, tensors, false);
      tensors ??= r.weights;
      results.set(r.acquired.backend, r);
      rows.push({
        engine: "csnc",
        adapter: `${r.acquired.backend} (${r.acquired.description})`,
        medianMs: r.medianMs,
        p90Ms: r.p90Ms,
        note: `${r.plan.dispatches.length} dispatches, ${iterations} runs${r.acquired.backend === "opengles" ? `, LP_NUM_THREADS ${r.acquired.llvmpipeThreads ?? "Mesa's default"}` : ""}`,
      });
      if (r.tuned)
        rows.push({
          engine: "csnc, tuned",
          adapter: `${r.acquired.backend} (${r.acquired.description})`,
          medianMs: r.tuned.medianMs,
          p90Ms: r.tuned.p90Ms,
          note: `${r.tuned.choices} step shapes take a measured variant (tuned in ${(r.tuned.tuneMs / 1000).toFixed(0)} s)`,
        });
      if (r.acquired.backend !== "vulkan")
        csncCpuMs = csncCpuMs === undefined ? r.medianMs : Math.min(csncCpuMs, r.medianMs);
    } catch (e) {
      log(`  ${backend}: skipped (${(e as Error).message.split("\n")[0] || String(e)})`);
      if (process.env.CSNC_DEBUG) log((e as Error).stack ?? "");
    }
  }
  let naiveTimes: { backend: string; times: DispatchTimes; medianMs: number } | undefined;
  if (args.naive !== "none" && results.has(args.naive!)) {
    const r = await timeCsnc(graph, args.naive as Backend, tensors, true);
    naiveTimes = { backend: args.naive!, times: r.kernels, medianMs: r.medianMs };
    rows.push({
      engine: "naive conv baseline",
      adapter: `${r.acquired.backend} (${r.acquired.description})`,
      medianMs: r.medianMs,
      note: "1 run; one invocation per output",
    });
  }
  if (tensors) {
    const { medianMs, p90Ms } = await timeOrt(graph, tensors, threads, iterations);
    rows.push({
      engine: "ONNX Runtime CPU",
      adapter: `onnxruntime-node ${ort.env.versions.node ?? ""}, ${threads} threads`,
      medianMs,
      p90Ms,
      note: "csnc's ONNX export",
    });
  }
  if (batch > 1) details.push(await throughputTable(results, tensors, threads));
  const reference = csncCpuMs;
  const rendered = table(
    [
      { title: "engine" },
      { title: "adapter" },
      { title: "median ms", align: "right" },
      { title: "p90 ms", align: "right" },
      { title: "csnc / this", align: "right" },
      { title: "note" },
    ],
    rows.map((r) => [
      r.engine,
      r.adapter,
      r.medianMs.toFixed(1),
      r.p90Ms?.toFixed(1) ?? "",
      reference === undefined || r.engine === "csnc" ? "" : (reference / r.medianMs).toFixed(2),
      r.note,
    ]),
  );
  for (const [backend, r] of results) {
    details.push(
      `Top kernels, csnc on ${backend} (${r.kernels.method === "timestamp" ? "GPU timestamps" : "wall-clock per dispatch"}):\n\n${topKernels(r.plan, r.kernels, naiveTimes?.backend === backend ? naiveTimes.times : undefined)}`,
    );
  }
  if (naiveTimes) {
    const r = results.get(naiveTimes.backend)!;
    const convs = r.plan.dispatches
      .map((d, i) => ({ d, i }))
      .filter(({ d }) => d.kernel.startsWith("conv-"));
    const speedups = convs.map(({ i }) => naiveTimes!.times.ms[i]! / r.kernels.ms[i]!);
    details.push(
      `csnc conv kernels vs the naive baseline on ${naiveTimes.backend}: min ${Math.min(...speedups).toFixed(1)}x, median ${median(speedups).toFixed(1)}x over ${convs.length} convs`,
    );
    const kernelMs = r.kernels.ms.reduce((a, b) => a + b, 0);
    const family = (kernel: string) => /^conv-(\w+)/.exec(kernel)![1]!;
    const families = [...new Set(convs.map(({ d }) => family(d.kernel)))];
    const worst = convs
      .map(({ d, i }, j) => ({ d, i, x: speedups[j]! }))
      .sort((a, b) => a.x - b.x)
      .slice(0, 6);
    details.push(
      `Per conv family (share of the summed kernel times, speed-up over naive and GFLOP/s, min / median) and the lowest speed-ups:\n\n${table(
        columns(
          ["family"],
          ["convs", "share", "min", "median", "under 10x", "min GFLOP/s", "median GFLOP/s"],
        ),
        families.map((f) => {
          const mine = convs.flatMap(({ d, i }, j) =>
            family(d.kernel) === f ? [{ d, i, j }] : [],
          );
          const xs = mine.map(({ j }) => speedups[j]!);
          const rates = mine.map(({ d, i }) => d.flops / (r.kernels.ms[i]! / 1000) / 1e9);
          const share = mine.reduce((a, { i }) => a + r.kernels.ms[i]!, 0) / kernelMs;
          return [
            f,
            String(xs.length),
            `${(100 * share).toFixed(1)}%`,
            `${Math.min(...xs).toFixed(1)}x`,
            `${median(xs).toFixed(1)}x`,
            String(xs.filter((x) => x < 10).length),
            Math.min(...rates).toFixed(1),
            median(rates).toFixed(1),
          ];
        }),
      )}\n\n${table(
        columns(["layer", "kernel"], ["csnc ms", "naive ms", "vs naive"]),
        worst.map(({ d, i, x }) => [
          d.path,
          d.kernel,
          r.kernels.ms[i]!.toFixed(2),
          naiveTimes!.times.ms[i]!.toFixed(2),
          `${x.toFixed(1)}x`,
        ]),
      )}`,
    );
  }
  const command = `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim();
  if (toggles.length) details.push(`Dawn toggles enabled for csnc: ${toggles.join(", ")}`);
  const report = [
    `${graph.model} at ${shape.join("x")}, ${new Date().toISOString().slice(0, 10)}, ${cpu}`,
    "",
    rendered,
    "",
    ...details.flatMap((d) => [d, ""]),
  ].join("\n");
  console.log(report);
  if (!args["no-append"]) {
    const file = path.resolve("BENCHMARKS.md");
    if (!existsSync(file))
      writeFileSync(
        file,
        "# Benchmarks\n\nEvery number here comes from `npm run bench`; each entry names its machine, adapters and command.\n",
      );
    appendFileSync(
      file,
      `\n## ${graph.model} ${shape.join("x")} (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)\n\nMachine: ${cpu}, ${(os.totalmem() / 2 ** 30) | 0} GiB; command: \`${command}\`\n\n\`\`\`\n${report}\n\`\`\`\n`,
    );
    log(`appended to ${file}`);
  }
  process.exit(0);
}

await main();
