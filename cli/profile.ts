// `csnc profile FILE`: whole-inference latency over repeated runs (the production path: one
// encoder, one submit), then a separate run timing each dispatch: GPU timestamps where the
// adapter has them, else a clearly labelled per-dispatch wall clock.
import { Command } from "commander";
import type { CliIo } from "./io.js";
import { columns, human, table } from "./format.js";
import { integerOption, modelOptions } from "./options.js";
import type { Plan } from "../compiler/plan.js";
import { kernelProfiles, median, type KernelProfile } from "../runtime/profile.js";
import { randomInput } from "../runtime/random-input.js";
import { sessionOptions } from "./run.js";
import { openSession, type SessionOptions } from "./session.js";

interface ProfileOptions extends SessionOptions {
  input?: string;
  batch?: string;
  iterations: number;
  warmup: number;
}

export function profileCommand(io: CliIo): Command {
  const cmd = new Command("profile")
    .description(
      "time a model on WebGPU: latency over repeated inferences and a per-kernel breakdown",
    )
    .argument("<file>", "a .csn model");
  for (const o of modelOptions.filter((o) => ["--input", "--batch"].includes(o.long!)))
    cmd.addOption(o);
  cmd
    .addOption(integerOption("--iterations <n>", "timed inferences", 10))
    .addOption(integerOption("--warmup <n>", "untimed inferences first", 2));
  sessionOptions(cmd);
  return cmd.action(async (file: string, opts: ProfileOptions) => {
    const { iterations, warmup } = opts;
    const session = await openSession(io, file, opts, { input: opts.input, batch: opts.batch });
    if (!session) return;
    const { plan, adapter } = session;
    const progress = (text: string) => {
      if (process.stderr.isTTY && !opts.json) process.stderr.write(`\r\x1b[K${text}`);
    };
    try {
      const input = randomInput(plan.input.shape, opts.seed);
      for (let i = 0; i < warmup; i++) {
        progress(`warm-up ${i + 1}/${warmup}`);
        await session.run(input);
      }
      const latencies: number[] = [];
      for (let i = 0; i < iterations; i++) {
        progress(`inference ${i + 1}/${iterations}`);
        const start = performance.now();
        await session.run(input);
        latencies.push(performance.now() - start);
      }
      progress(`timing ${plan.dispatches.length} dispatches one by one`);
      const times = await session.profile();
      progress("");
      const kernels = kernelProfiles(plan, times);
      const sum = times.ms.reduce((a, b) => a + b, 0);
      const flops = plan.dispatches.reduce((a, d) => a + d.flops, 0);
      const report = {
        model: plan.model,
        adapter: adapter.description,
        backend: adapter.backend,
        input: plan.input.shape,
        precision: plan.precision,
        dispatches: plan.dispatches.length,
        /** Dispatches running a variant csnc tune measured (--tuning or the cache). */
        tunedDispatches: plan.dispatches.filter((d) => d.tuned).length,
        latency: {
          medianMs: median(latencies),
          minMs: Math.min(...latencies),
          maxMs: Math.max(...latencies),
          iterations,
          warmup,
          gflops: flops / (median(latencies) / 1000) / 1e9,
        },
        kernelTiming: times.method,
        kernelSumMs: sum,
        memory: plan.memory,
        setup: {
          compileMs: session.compileMs,
          buffersMs: session.setup.buffersMs,
          pipelinesMs: session.setup.pipelinesMs,
        },
        kernels,
      };
      io.out(opts.json ? JSON.stringify(report, null, 2) : render(report));
      io.exitCode(0);
    } finally {
      session.destroy();
    }
  });
}

function render(r: {
  model: string;
  adapter: string;
  backend: string;
  input: readonly number[];
  precision: string;
  dispatches: number;
  latency: {
    medianMs: number;
    minMs: number;
    maxMs: number;
    iterations: number;
    warmup: number;
    gflops: number;
  };
  kernelTiming: string;
  kernelSumMs: number;
  memory: Plan["memory"];
  setup: { compileMs: number; buffersMs: number; pipelinesMs: number };
  kernels: KernelProfile[];
}): string {
  const l = r.latency;
  const timing =
    r.kernelTiming === "timestamp"
      ? "GPU timestamps, one compute pass per dispatch"
      : "WALL-CLOCK FALLBACK (no timestamp-query): one submit per dispatch, dispatches under 10 ms repeated up to 16 times within it to amortise the submit and sync overhead";
  const rows = [...r.kernels]
    .sort((a, b) => b.ms - a.ms)
    .map((k) => [
      k.path,
      k.kernel,
      k.ms.toFixed(3),
      `${(100 * k.share).toFixed(1)}%`,
      k.gflops.toFixed(2),
      human(k.bytes) + "B",
      k.gbps.toFixed(2),
    ]);
  return [
    `${r.model} on ${r.backend} (${r.adapter})`,
    `input ${r.input.join("x")}, ${r.dispatches} dispatches${r.precision === "f32" ? "" : `, ${r.precision}`}`,
    `latency: median ${l.medianMs.toFixed(2)} ms (min ${l.minMs.toFixed(2)}, max ${l.maxMs.toFixed(2)}) over ${l.iterations} runs after ${l.warmup} warm-up; ${l.gflops.toFixed(2)} GFLOP/s (2 FLOPs per multiply-add)`,
    `memory${r.precision === "f32" ? "" : " (halves)"}: activations ${human(r.memory.activationBytes)}B (lower bound ${human(r.memory.lowerBoundBytes)}B)${r.memory.textureBytes ? `, textures ${human(r.memory.textureBytes)}B` : ""}, weights ${human(r.memory.weightBytes)}B`,
    `setup: compile ${r.setup.compileMs.toFixed(0)} ms, buffers and weights ${r.setup.buffersMs.toFixed(0)} ms, pipelines ${r.setup.pipelinesMs.toFixed(0)} ms`,
    "",
    `per kernel (${timing}); sum ${r.kernelSumMs.toFixed(2)} ms = ${((100 * r.kernelSumMs) / l.medianMs).toFixed(0)}% of the median latency:`,
    table(columns(["layer", "kernel"], ["ms", "share", "GFLOP/s", "bytes", "GB/s"]), rows),
  ].join("\n");
}
