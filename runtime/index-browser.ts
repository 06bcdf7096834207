/// <reference types="@webgpu/types" preserve="true" />
// csnc as a library, portable (browsers, workers, Node): parse, check and count a .csn model
// from any source host, compile it, and run it on a GPUDevice. Public types first.
import { compileGraph } from "../compiler/compile.js";
import type { Graph } from "../compiler/ir.js";
import { compatLimits, type KernelLimits } from "../compiler/kernels/common.js";
import type { Tuning } from "../compiler/kernels/tuning.js";
import type { Plan } from "../compiler/plan.js";
import type { Convention } from "../compiler/stats/conventions.js";
import { statsReport, type StatsReport } from "../compiler/stats/report.js";

export type { Diagnostic, ParseResult, Program } from "../grammar/index.js";
export type { CheckOptions, CheckResult, Value } from "../compiler/index.js";
export type { Graph, Node, Op, Shape } from "../compiler/ir.js";
export type { SourceHost } from "../compiler/source.js";
export type { KernelLimits } from "../compiler/kernels/common.js";
export type { Tuning } from "../compiler/kernels/tuning.js";
export type { Precision } from "../compiler/kernels/format.js";
export { precisions } from "../compiler/kernels/format.js";
export type { Plan } from "../compiler/plan.js";
export type { Convention } from "../compiler/stats/conventions.js";
export type { StatsReport } from "../compiler/stats/report.js";
export type {
  ClipFrames,
  ClipInput,
  DispatchTimes,
  Outputs,
  Session,
  SessionWeights,
} from "./plan-session.js";
export type { TuningFile, TuningEntry, TunedAdapter } from "./tune/tuning-file.js";
export { choicesFor, parseTuningFile, tunedAdapter } from "./tune/tuning-file.js";
export { tuningFor } from "../compiler/kernels/tuning.js";
export type { ModelSource, SessionOptions } from "./session.js";
export type { LoadedWeights } from "./load-weights.js";
export type { Naming } from "./naming.js";
export type { Tensor } from "./safetensors.js";
export type { BrowserDevice } from "./browser.js";

export { parse, formatDiagnostic } from "../grammar/index.js";
export { checkFile } from "../compiler/index.js";
export { PlanError } from "../compiler/plan.js";
export { createSession } from "./session.js";
export { loadWeights as readWeights } from "./load-weights.js";
export { readSafetensors, writeSafetensors } from "./safetensors.js";
export { CsncError, RuntimeCodes } from "./errors.js";
export { requestBrowserDevice } from "./browser.js";

/** Params, multiply-adds and channel interactions per layer, block and stage, as `csnc stats`. */
export function stats(
  graph: Graph,
  options: { convention?: Convention; sources?: ReadonlyMap<string, string> } = {},
): StatsReport {
  return statsReport(graph, options.sources ?? new Map(), options.convention);
}

/**
 * The executable plan of a checked graph: fused WGSL kernels, buffers and bindings. By default
 * for WebGPU's compatibility limits, which every device offers; a session compiles for its own.
 */
export function compile(
  graph: Graph,
  options: { limits?: KernelLimits; tuning?: Tuning } = {},
): Plan {
  return compileGraph(graph, options.limits ?? compatLimits, options.tuning);
}

// Training on WebGPU (the library only: the generated module stays inference-only).
export type { TrainOptions } from "../compiler/train/build.js";
export type { TrainProgram, TrainParam } from "../compiler/train/program.js";
export type { Hyper, StepResult, TrainBatch, Trainer, TrainState } from "./train/trainer.js";
export type { StartingTensors } from "./train/init.js";
export type { ClipSet, EpochLog, LoopEnd, LoopOptions, StepLog } from "./train/loop.js";
export type { Schedule, ScheduleOptions } from "./train/schedule.js";
export { buildTrainProgram, TrainGraphError } from "../compiler/train/build.js";
export { createTrainer, expectedTrainTensors } from "./train/trainer.js";
export { startingTensors } from "./train/init.js";
export { epochOrder, evaluateSet, trainLoop } from "./train/loop.js";
export { learningRate } from "./train/schedule.js";
export { kernelLimits } from "./device.js";
