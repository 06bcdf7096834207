// `csnc compile FILE -o DIR`: writes one WGSL file per kernel, the plan as JSON, and a summary.
import { loadModel } from "./load.js";
import { emitModule } from "../compiler/emit-module.js";
import { Command, Option } from "commander";
import { readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { compileGraph, formatGraph, passNames, type InferenceGraph } from "../compiler/compile.js";
import { compatLimits, type KernelLimits } from "../compiler/kernels/common.js";
import { PlanError, shaderKernel, type Plan } from "../compiler/plan.js";
import { addCounts, countLayer, zeroCounts } from "../compiler/stats/count.js";
import { human } from "./format.js";
import { prepareOutputDir, writeOutput, writingFiles, type CliIo } from "./io.js";
import {
  modelOptions,
  precisionOption,
  toCheckOptions,
  UsageError,
  type ModelOptions,
} from "./options.js";
import type { Precision } from "../compiler/kernels/format.js";
import { tuningFor, type Tuning } from "../compiler/kernels/tuning.js";
import { describeTuned } from "../runtime/tune/tuning-file.js";
import { readTuningFile } from "./tuning.js";

/** Core WebGPU limits as most desktop GPUs and SwiftShader grant them to csnc. */
const coreLimits: KernelLimits = {
  maxComputeWorkgroupsPerDimension: 65535,
  maxComputeInvocationsPerWorkgroup: 256,
  maxStorageBuffersPerShaderStage: 8,
  maxStorageBufferBindingSize: 1 << 30,
  maxBufferSize: 1 << 30,
  maxTextureDimension2D: 8192,
};

interface CompileOptions extends ModelOptions {
  emit: "plan" | "module";
  tuning?: string;
  tunedFor?: string;
  dumpAfter?: string;
  output?: string;
  limits: "compat" | "core";
  precision: Precision;
}

export function compileCommand(io: CliIo): Command {
  const cmd = new Command("compile")
    .description("compile a model to WGSL kernels and an execution plan")
    .argument("<file>", "a .csn model")
    .option("-o, --output <dir>", "where to write kernels/*.wgsl and plan.json")
    .addOption(
      new Option(
        "--limits <set>",
        "device limits to plan for (the runtime replans for the real device)",
      )
        .choices(["compat", "core"])
        .default("core"),
    )
    .addOption(
      new Option(
        "--emit <what>",
        "plan: kernels and plan.json; module: a self-contained ES module (index.js, index.d.ts)",
      )
        .choices(["plan", "module"])
        .default("plan"),
    )
    .addOption(
      new Option(
        "--dump-after <pass>",
        "print the inference graph after this pass (then -o is optional)",
      ).choices(passNames),
    )
    .option(
      "--tuning <file>",
      "compile with the kernel choices csnc tune measured (its only adapter's, or --tuned-for's); a module embeds them",
    )
    .option("--tuned-for <text>", "with --tuning: the adapter whose description contains this text")
    .addOption(precisionOption())
    .option("--json", "print the summary as JSON");
  for (const o of modelOptions) cmd.addOption(o);
  return cmd.action((file: string, opts: CompileOptions) => {
    if (opts.tunedFor !== undefined && !opts.tuning)
      throw new UsageError("--tuned-for needs --tuning FILE");
    const measured = opts.tuning ? tunedEntry(io, opts.tuning, opts.tunedFor) : undefined;
    if (!opts.output && !opts.dumpAfter) throw new UsageError("compile needs -o DIR");
    const graph = loadModel(io, file, toCheckOptions(opts), opts.json);
    if (!graph) return;
    const limits = opts.limits === "compat" ? compatLimits : coreLimits;
    const onPass = (name: string, g: InferenceGraph) => {
      if (name === opts.dumpAfter) io.out(formatGraph(g));
    };
    let plan: Plan;
    try {
      plan = compileGraph(graph, limits, measured?.tuning, { onPass, precision: opts.precision });
    } catch (e) {
      if (!(e instanceof PlanError)) throw e;
      io.err(`${file}: error: ${e.message}`);
      io.exitCode(1);
      return;
    }
    // With only --dump-after, the dump is the output.
    if (!opts.output) return io.exitCode(0);
    // A folder that cannot be made fails before anything is written.
    prepareOutputDir(opts.output);
    const macs = graph.nodes.reduce((a, n) => addCounts(a, countLayer(n, graph)), zeroCounts).macs;
    // How many dispatches the measurements changed: the plan against the one without them.
    const tuning = measured && {
      file: opts.tuning,
      adapter: describeTuned(measured.adapter),
      measuredDispatches: countChanged(
        plan,
        compileGraph(
          graph,
          limits,
          { ...measured.tuning, choices: undefined },
          { precision: opts.precision },
        ),
      ),
    };
    if (opts.emit === "module") {
      const output = opts.output;
      const files = writingFiles(() => emitModule(graph, plan, output));
      io.out(
        opts.json
          ? JSON.stringify(
              { ...summarise(plan, macs), tuning, output: opts.output, files },
              null,
              2,
            )
          : `wrote ${files.map((f) => path.join(opts.output!, f)).join(" and ")}: ${plan.model}, input ${plan.input.shape.join("x")}, ${plan.dispatches.length} dispatches${tuning ? `, ${tuning.measuredDispatches} of them as measured on ${tuning.adapter}` : ""}`,
      );
      io.exitCode(0);
      return;
    }
    writePlan(plan, opts.output);
    const summary = summarise(plan, macs);
    io.out(
      opts.json
        ? JSON.stringify({ ...summary, tuning, output: opts.output }, null, 2)
        : renderSummary(summary, opts.output) +
            (tuning
              ? `\n  ${tuning.measuredDispatches} dispatches take the variants measured on ${tuning.adapter} (${tuning.file})`
              : ""),
    );
    io.exitCode(0);
  });
}

/** The tuning file's entry to compile with: its only one, or the one `tunedFor` names. */
function tunedEntry(io: CliIo, file: string, tunedFor: string | undefined) {
  const entries = readTuningFile(file, (m) => io.err(`warning: ${m}`)).entries;
  const matching = entries.filter(
    (e) => tunedFor === undefined || describeTuned(e.adapter).includes(tunedFor),
  );
  if (matching.length !== 1) {
    const list = entries.map((e) => `  ${describeTuned(e.adapter)}`).join("\n");
    throw new UsageError(
      matching.length === 0
        ? `${file} has no adapter${tunedFor === undefined ? "" : ` matching '${tunedFor}'`}; it has:\n${list || "  (none)"}`
        : `${file} has ${matching.length} adapters${tunedFor === undefined ? "" : ` matching '${tunedFor}'`}: pick one with --tuned-for TEXT:\n${list}`,
    );
  }
  const entry = matching[0]!;
  const tuning: Tuning = { ...tuningFor(entry.adapter), choices: entry.choices };
  return { adapter: entry.adapter, tuning };
}

const countChanged = (a: Plan, b: Plan) =>
  a.dispatches.filter(
    (d, i) => JSON.stringify(d.choice) !== JSON.stringify(b.dispatches[i]?.choice),
  ).length;

function writePlan(plan: Plan, dir: string): void {
  const kernels = path.join(dir, "kernels");
  prepareOutputDir(kernels);
  const files = plan.shaders.map(
    (_, i) => `kernels/${String(i).padStart(3, "0")}-${shaderKernel(plan, i)}.wgsl`,
  );
  plan.shaders.forEach((code, i) => writeOutput(path.join(dir, files[i]!), code));
  removeStaleKernels(dir, files); // after: a failed write leaves the old plan whole
  const { shaders: _shaders, ...rest } = plan;
  writeOutput(
    path.join(dir, "plan.json"),
    JSON.stringify({ ...rest, shaderFiles: files }, null, 2) + "\n",
  );
}

/**
 * A folder compiled into before holds the kernels its plan.json lists: those the new plan does
 * not write go, so that kernels/ is this plan's alone. Only names of csnc's own form are
 * removed, never another file.
 */
function removeStaleKernels(dir: string, keep: readonly string[]): void {
  let old: unknown;
  try {
    old = (
      JSON.parse(readFileSync(path.join(dir, "plan.json"), "utf8")) as { shaderFiles?: unknown }
    ).shaderFiles;
  } catch {
    return; // no plan.json of csnc's here: nothing of ours to remove
  }
  if (!Array.isArray(old)) return;
  for (const f of old)
    if (typeof f === "string" && /^kernels\/\d{3}-[\w-]+\.wgsl$/.test(f) && !keep.includes(f))
      rmSync(path.join(dir, f), { force: true });
}

/** The summary; `macs` are the model's conv and FC multiply-adds (stats' count). */
export function summarise(plan: Plan, macs: number) {
  const kernels: Record<string, number> = {};
  // Grouped by family and storage: windows, tiles and formats (-h..., -a16) dropped.
  const group = (k: string) =>
    k.replace(/-h[iorw]+(-a16)?$|-a16$/, "").replace(/-k[\dx]+.*$|-\d+x\d+$/, "");
  for (const d of plan.dispatches) kernels[group(d.kernel)] = (kernels[group(d.kernel)] ?? 0) + 1;
  return {
    model: plan.model,
    precision: plan.precision,
    input: plan.input.shape,
    dispatches: plan.dispatches.length,
    shaders: plan.shaders.length,
    kernels,
    macs,
    /** 2 per multiply-add, plus pooling, elementwise and softmax operations. */
    flops: plan.dispatches.reduce((a, d) => a + d.flops, 0),
    memory: plan.memory,
  };
}

function renderSummary(s: ReturnType<typeof summarise>, dir: string): string {
  const m = s.memory;
  return [
    `${s.model}: input ${s.input.join("x")} (NxCxTxHxW)`,
    `  ${s.dispatches} dispatches, ${s.shaders} distinct kernels; per inference ${human(s.macs)} MACs (multiply-adds, as stats counts), ${human(s.flops)}FLOP (2 x MACs, plus pooling and elementwise ops)`,
    ...Object.entries(s.kernels).map(([k, n]) => `    ${String(n).padStart(4)}  ${k}`),
    `  activations: ${human(m.activationBytes)}B in shared buffers (lower bound ${human(m.lowerBoundBytes)}B, ${(m.activationBytes / m.lowerBoundBytes).toFixed(2)}x)`,
    `  weights: ${human(m.weightBytes)}B`,
    `  wrote ${dir}/plan.json and ${s.shaders} kernels in ${dir}/kernels/`,
  ].join("\n");
}
