// `npm run bench`: the same network and input on csnc (every WebGPU adapter available), ONNX
// Runtime CPU on csnc's own ONNX export, and a naive one-invocation-per-output conv baseline on
// the same adapter. Prints a table of medians and ratios and appends it to BENCHMARKS.md.
//   npm run bench -- [--model models/ir-csn-50.csn] [--shape 1x3x8x112x112] [--iterations 3]
//                    [--backends opengles,swiftshader,gpu] [--naive opengles|swiftshader|none] [--no-append]
import { appendFileSync, existsSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import * as ort from "onnxruntime-node";
import { compileGraph } from "../compiler/compile.js";
import { unlimitedLimits } from "../compiler/kernels/common.js";
import { checkFile, type Graph } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { exportOnnx } from "../compiler/onnx.js";
import type { Plan } from "../compiler/plan.js";
import { columns, human, table } from "../cli/format.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { tuningFor } from "../compiler/kernels/tuning.js";
import { requestDevice } from "../runtime/device.js";
import { kernelProfiles, median } from "../runtime/profile.js";
import { randomInput } from "../runtime/random-input.js";
import type { Tensor } from "../runtime/safetensors.js";
import { createSession, type DispatchTimes } from "../runtime/session.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "models/ir-csn-50.csn" },
    shape: { type: "string", default: "1x3x8x112x112" },
    iterations: { type: "string", default: "3" },
    backends: { type: "string", default: "gpu,swiftshader,opengles" },
    naive: { type: "string", default: "opengles" },
    "no-append": { type: "boolean", default: false },
  },
});
const iterations = Number(args.iterations);
const shape = args.shape!.split("x").map(Number);
const log = (s: string) => process.stderr.write(s + "\n");

function loadGraph(): Graph {
  const file = path.resolve(args.model!);
  const r = checkFile(file, projectRoot(file), nodeHost, {
    input: shape.slice(1) as [number, number, number, number],
    batch: shape[0],
  });
  if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
  return r.graphs[0]!;
}

interface Row {
  engine: string;
  adapter: string;
  medianMs: number;
  note: string;
}

async function timeCsnc(
  graph: Graph,
  backend: Backend,
  tensors: ReadonlyMap<string, Tensor> | undefined,
  naive: boolean,
) {
  const acquired = await acquireAdapter(backend);
  const device = await requestDevice(acquired.adapter);
  try {
    const session = await createSession({
      graph,
      tuning: { ...tuningFor(acquired.adapter.info), naive },
      weights: tensors ? { tensors, naming: "csnc" } : { random: 1 },
      device,
    });
    const { plan } = session;
    const input = randomInput(plan.input.shape, 1);
    const runs = naive ? 1 : iterations;
    await session.run(input); // warm-up: first-use costs (pipeline caches, page faults)
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t = performance.now();
      await session.run(input);
      ms.push(performance.now() - t);
      log(`  ${naive ? "naive" : "csnc"} on ${acquired.backend}: ${ms.at(-1)!.toFixed(0)} ms`);
    }
    const kernels = await session.profile();
    session.destroy();
    return { acquired, plan, weights: session.tensors, medianMs: median(ms), kernels };
  } finally {
    device.destroy();
  }
}

async function timeOrt(graph: Graph, tensors: ReadonlyMap<string, Tensor>, threads: number) {
  const bytes = exportOnnx(graph, (layer, suffix) => tensors.get(`${layer}.${suffix}`)!.data!);
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const input = new ort.Tensor("float32", randomInput(graph.nodes[0]!.shape, 1), [
    ...graph.nodes[0]!.shape,
  ]);
  for (let i = 0; i < 2; i++) await session.run({ input });
  const ms: number[] = [];
  for (let i = 0; i < Math.max(5, iterations); i++) {
    const t = performance.now();
    await session.run({ input });
    ms.push(performance.now() - t);
  }
  return median(ms);
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
        note: `${r.plan.dispatches.length} dispatches, ${iterations} runs`,
      });
      if (r.acquired.backend !== "vulkan")
        csncCpuMs = csncCpuMs === undefined ? r.medianMs : Math.min(csncCpuMs, r.medianMs);
    } catch (e) {
      log(`  ${backend}: skipped (${(e as Error).message.split("\n")[0]})`);
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
    const ms = await timeOrt(graph, tensors, threads);
    rows.push({
      engine: "ONNX Runtime CPU",
      adapter: `onnxruntime-node ${ort.env.versions.node ?? ""}, ${threads} threads`,
      medianMs: ms,
      note: "csnc's ONNX export",
    });
  }
  const reference = csncCpuMs;
  const rendered = table(
    [
      { title: "engine" },
      { title: "adapter" },
      { title: "median ms", align: "right" },
      { title: "csnc / this", align: "right" },
      { title: "note" },
    ],
    rows.map((r) => [
      r.engine,
      r.adapter,
      r.medianMs.toFixed(1),
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
