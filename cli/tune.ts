// `csnc tune FILE`: measures the kernel variants of every distinct step of the model on the
// adapter at hand and records the fastest of each (runtime/tune/tuner.ts) in a tuning file,
// keyed by the adapter's identity and the step's shape, and in the user's tuning cache.
import { statSync } from "node:fs";
import { Command } from "commander";
import { lower } from "../compiler/passes/index.js";
import type { Precision } from "../compiler/kernels/format.js";
import { withFormats } from "../compiler/plan/formats.js";
import { compileGraph } from "../compiler/compile.js";
import { PlanError } from "../compiler/plan.js";
import { policyOf, tuningFor } from "../compiler/kernels/tuning.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { checkPrecision, isCpuAdapter, kernelLimits, requestDevice } from "../runtime/device.js";
import { CsncError, RuntimeCodes } from "../runtime/errors.js";
import { tune, type TuneProgress, type TuneResult } from "../runtime/tune/tuner.js";
import {
  describeTuned,
  mergeTuning,
  tunedAdapter,
  tuningFormat,
  type TuningEntry,
  type TuningFile,
} from "../runtime/tune/tuning-file.js";
import { columns, table } from "./format.js";
import { checkOutputFile, type CliIo } from "./io.js";
import { loadModel } from "./load.js";
import {
  backendOption,
  integerOption,
  precisionOption,
  modelOptions,
  toCheckOptions,
  type ModelOptions,
} from "./options.js";
import { readTuningFile, updateTuningCache, writeTuningFile } from "./tuning.js";

interface TuneOptions extends ModelOptions {
  backend: Backend;
  budget: number;
  output?: string;
  seed: number;
  cache: boolean;
  precision: Precision;
}

/** A one-line bar on a terminal; on a pipe or log, a line at each tenth. */
function progressBar(io: CliIo, enabled: boolean) {
  const tty = process.stderr.isTTY === true;
  let lastTenth = -1;
  return (p: TuneProgress) => {
    if (!enabled) return;
    // Whichever runs out first, candidates or the budget, is how far along the tuning is.
    const fraction = p.finished
      ? 1
      : Math.min(1, Math.max(p.done / Math.max(p.total, 1), p.elapsedMs / p.budgetMs));
    const width = 30;
    const filled = Math.round(fraction * width);
    const line = `tuning [${"#".repeat(filled)}${".".repeat(width - filled)}] ${String(Math.round(100 * fraction)).padStart(3)}%  ${p.done}/${p.total} variants, ${(p.elapsedMs / 1000).toFixed(0)} of ${(p.budgetMs / 1000).toFixed(0)} s${p.step ? `  ${p.step}` : ""}${p.finished && p.done < p.total ? "  (budget spent)" : ""}`;
    if (tty) process.stderr.write(`\r\x1b[K${line}${p.finished ? "\n" : ""}`);
    else if (p.finished || Math.floor(fraction * 10) > lastTenth) {
      lastTenth = Math.floor(fraction * 10);
      io.err(line);
    }
  };
}

export function tuneCommand(io: CliIo): Command {
  const cmd = new Command("tune")
    .description(
      "time every kernel variant of the model's steps on this adapter and record the fastest (a tuning file for --tuning, and the user's tuning cache)",
    )
    .argument("<file>", "a .csn model")
    .addOption(backendOption())
    .addOption(integerOption("--budget <seconds>", "time to spend measuring", 60))
    .option("-o, --output <file>", "the tuning file to write (merged into it if it is one)")
    .option("--no-cache", "do not record the result in the user's tuning cache")
    .addOption(integerOption("--seed <n>", "seed of the data the variants are checked on", 1))
    .addOption(precisionOption())
    .option("--json", "print the result as JSON");
  for (const o of modelOptions) cmd.addOption(o);
  return cmd.action(async (file: string, opts: TuneOptions) => {
    if (opts.output) checkOutputFile(opts.output, [file]);
    const warn = (m: string) => io.err(`warning: ${m}`);
    let previous: TuningFile | undefined;
    if (opts.output) {
      try {
        previous = readTuningFile(opts.output, warn);
      } catch (e) {
        if (!(e instanceof CsncError)) throw e;
        // Not a tuning file (another file, or a damaged one with other adapters' entries):
        // left as it is, for the user to look at.
        // An empty file (mktemp's) is replaced, as a missing one is.
        if (!/no such file/.test(e.message) && statSync(opts.output).size > 0)
          throw new CsncError(
            e.code,
            `${e.message}; -o would replace it, so it is left as it is (remove it or write elsewhere)`,
          );
      }
    }
    const graph = loadModel(io, file, toCheckOptions(opts), opts.json);
    if (!graph) return;
    const acquired = await acquireAdapter(opts.backend);
    const device = await requestDevice(acquired.adapter);
    try {
      checkPrecision(device, opts.precision);
      const limits = kernelLimits(device);
      const tuning = tuningFor(acquired.adapter.info);
      try {
        // The model must fit this device at all.
        compileGraph(graph, limits, tuning, { precision: opts.precision });
      } catch (e) {
        if (!(e instanceof PlanError)) throw e;
        throw new CsncError(RuntimeCodes.tooLarge, `${e.message} (on ${acquired.description})`);
      }
      const adapter = tunedAdapter(acquired.adapter.info, acquired.backend);
      if (!opts.json) io.err(`tuning ${graph.model} on ${describeTuned(adapter)}`);
      const result = await tune({
        // Steps annotated with their storage formats: halves are tuned as they will run.
        graph: withFormats(lower(graph), opts.precision, policyOf(tuning).naive),
        device,
        limits,
        tuning,
        budgetMs: opts.budget * 1000,
        cpu: isCpuAdapter(acquired.adapter),
        seed: opts.seed,
        onProgress: progressBar(io, !opts.json),
      });
      const entry: TuningEntry = {
        adapter,
        method: result.method,
        tuned: new Date().toISOString(),
        choices: result.choices,
      };
      if (opts.output) writeTuningFile(opts.output, mergeTuning(previous, entry));
      const cache = opts.cache ? updateTuningCache(io, entry) : undefined;
      const report = { model: graph.model, adapter, input: graph.nodes[0]!.shape, ...result };
      io.out(
        opts.json
          ? JSON.stringify({ format: tuningFormat, ...report, output: opts.output, cache }, null, 2)
          : render(result, opts.output, cache),
      );
      io.exitCode(0);
    } finally {
      device.destroy();
    }
  });
}

function render(r: TuneResult, output: string | undefined, cache: string | undefined): string {
  const rows = [...r.steps]
    .sort((a, b) => b.defaultMs * b.count - a.defaultMs * a.count)
    .map((s) => [
      s.path,
      String(s.count),
      `${s.tried}/${s.candidates}`,
      s.defaultMs.toFixed(3),
      s.best.ms.toFixed(3),
      `${(s.defaultMs / s.best.ms).toFixed(2)}x`,
      s.best.kernel,
    ]);
  const total = (f: (s: TuneResult["steps"][number]) => number) =>
    r.steps.reduce((a, s) => a + s.count * f(s), 0);
  const rejected = r.steps.flatMap((s) =>
    s.rejected.map((x) => `  ${s.path}: ${x.kernel}: ${x.reason}`),
  );
  return [
    table(
      columns(
        ["step (first of its shape)"],
        ["steps", "tried", "default ms", "best ms", "speed-up"],
      ).concat(columns(["kernel"], [])),
      rows,
    ),
    `tuned steps: ${total((s) => s.defaultMs).toFixed(2)} ms by default, ${total((s) => s.best.ms).toFixed(2)} ms tuned (kernel times, ${r.method}), in ${(r.elapsedMs / 1000).toFixed(1)} s${r.truncated ? "; the budget ran out before every variant was timed (--budget)" : ""}`,
    ...(rejected.length ? ["rejected (never chosen):", ...rejected] : []),
    `${plural(Object.keys(r.choices).length, "step shape takes", "step shapes take")} a measured variant${output ? `; wrote ${output}` : ""}${cache ? `; recorded in ${cache}` : ""}`,
  ].join("\n");
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
