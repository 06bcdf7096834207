// `csnc stats FILE`: params, multiply-adds and channel interactions per layer, block and stage.
import { Command, Option } from "commander";
import * as path from "node:path";
import { diagnosticToJson, formatDiagnostic } from "../grammar/index.js";
import { checkFile } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { conventions, type Convention } from "../compiler/stats/conventions.js";
import { statsReport, type GroupRow, type StatsReport } from "../compiler/stats/report.js";
import { human, table, type Column } from "./format.js";
import type { CliIo } from "./io.js";
import { modelOptions, toCheckOptions, UsageError, type ModelOptions } from "./options.js";

const conventionHelp = `
Counting conventions (--convention):
  paper    (default) the CSN paper's: FLOPs = MACs, the conv + FC multiply-adds
           (1 per multiply-add; compile and profile count GFLOP as 2 x MACs); BN, ReLU,
           pooling and residual adds count 0. params = conv + FC weights and biases;
           BN's gamma and beta are reported apart (bn_params).
  fvcore   paper + 5 FLOPs per BN output element, as fvcore's norm rule gives in
           PyTorchVideo's model-zoo table (ir-CSN-101 at 32x256x256: 75.62 G).
           (fvcore >= 0.1.5 in eval mode counts 2 per element: see mmcv.)
  mmcv     paper + 2 FLOPs per BN output element (affine BN): MMAction2's
           published CSN numbers (ir-CSN-152 at 32x256x256: 97.63 G).
  ptflops  ptflops' module hooks: conv multiply-adds + bias adds, BN 2 per element,
           ReLU 1 per output element, pooling 1 per input element, FC in*out + out.
Channel interactions (paper, section 3): C_out * binom(C_in / G, 2) per conv
(0 for depthwise), summed over conv layers; FC excluded. Counts are for the whole
batch except params and interactions.`;

interface StatsOptions extends ModelOptions {
  by: "layer" | "block" | "stage";
  convention: Convention;
}

export function statsCommand(io: CliIo): Command {
  const cmd = new Command("stats")
    .description(
      "count params, multiply-adds (MACs) and channel interactions, as the CSN paper defines them",
    )
    .argument("<file>", "a .csn model")
    .addOption(
      new Option("--by <level>", "rows of the table")
        .choices(["layer", "block", "stage"])
        .default("stage"),
    )
    .addOption(
      new Option("--convention <name>", "how FLOPs are counted (see below)")
        .choices(conventions)
        .default("paper"),
    )
    .option("--json", "print everything (layers, blocks, stages, totals) as one JSON object")
    .addHelpText("after", conventionHelp);
  for (const o of modelOptions) cmd.addOption(o);
  return cmd.action((file: string, opts: StatsOptions) => {
    const abs = path.resolve(file);
    const r = checkFile(abs, projectRoot(abs), nodeHost, toCheckOptions(opts));
    if (r.diagnostics.length > 0) {
      if (opts.json)
        io.out(
          JSON.stringify(
            { ok: false, diagnostics: r.diagnostics.map((d) => diagnosticToJson(d, r.sources)) },
            null,
            2,
          ),
        );
      else for (const d of r.diagnostics) io.err(formatDiagnostic(d, r.sources));
      io.exitCode(1);
      return;
    }
    if (r.graphs.length === 0)
      throw new UsageError(`${file} defines no model (it is a block library); stats needs a model`);
    if (r.graphs.length > 1)
      throw new UsageError(`${file} defines ${r.graphs.length} models: pick one with --model`);
    const report = statsReport(r.graphs[0]!, r.sources, opts.convention);
    io.out(
      opts.json
        ? JSON.stringify(toJson(report, r.graphs[0]!.params), null, 2)
        : render(report, opts.by),
    );
    io.exitCode(0);
  });
}

const snake = (g: GroupRow) => ({
  name: g.name,
  layers: g.layers,
  params: g.params,
  bn_params: g.bnParams,
  macs: g.macs,
  interactions: g.interactions,
  flops: g.flops,
});

function toJson(report: StatsReport, params: object) {
  return {
    model: report.model,
    parameters: params,
    convention: report.convention,
    input: { shape: report.inputShape, layout: "NCTHW" },
    output: { shape: report.outputShape, layout: "NCTHW" },
    layers: report.layers.map((l) => ({
      path: l.path,
      op: l.op,
      config: l.config,
      input_shape: l.inputShape,
      output_shape: l.outputShape,
      params: l.params,
      bn_params: l.bnParams,
      macs: l.macs,
      interactions: l.interactions,
      flops: l.flops,
      stage: l.stage ?? null,
      block: l.block ?? null,
      location: l.location,
    })),
    blocks: report.blocks.map(snake),
    stages: report.stages.map(snake),
    totals: (({ name: _name, ...rest }) => rest)(snake(report.totals)),
  };
}

function render(report: StatsReport, by: StatsOptions["by"]): string {
  const flopsCol =
    report.convention === "paper"
      ? []
      : [{ title: `FLOPs (${report.convention})`, align: "right" as const }];
  const counts = (r: {
    params: number;
    bnParams: number;
    macs: number;
    interactions: number;
    flops: number;
  }) => [
    r.params ? human(r.params) : "",
    r.bnParams ? human(r.bnParams) : "",
    r.macs ? human(r.macs) : "",
    r.interactions ? human(r.interactions) : "",
    ...(flopsCol.length ? [r.flops ? human(r.flops) : ""] : []),
  ];
  const countCols: Column[] = [
    { title: "params", align: "right" },
    { title: "bn params", align: "right" },
    { title: "MACs", align: "right" },
    { title: "interactions", align: "right" },
    ...flopsCol,
  ];
  const totalRow = (first: number) =>
    [...Array<string>(first).fill(""), ...counts(report.totals)].map((c, i) =>
      i === 0 ? "total" : c,
    );
  let body: string;
  if (by === "layer") {
    const columns: Column[] = [
      { title: "layer" },
      { title: "op" },
      { title: "kernel stride pad groups" },
      { title: "output (NxCxTxHxW)" },
      ...countCols,
      { title: "at" },
    ];
    const rows = report.layers.map((l) => [
      l.path,
      l.op,
      l.config,
      l.outputShape.join("x"),
      ...counts(l),
      `${l.location.file}:${l.location.line}:${l.location.col}`,
    ]);
    body = table(columns, [...rows, null, [...totalRow(4), ""]]);
  } else {
    const groups = by === "block" ? report.blocks : report.stages;
    const columns: Column[] = [{ title: by }, { title: "layers", align: "right" }, ...countCols];
    const rows = groups.map((g) => [g.name, String(g.layers), ...counts(g)]);
    body = table(columns, [
      ...rows,
      null,
      ["total", String(report.totals.layers), ...counts(report.totals)],
    ]);
  }
  const header = `${report.model}: input ${report.inputShape.join("x")} (NxCxTxHxW) -> output ${report.outputShape.join("x")}`;
  const t = report.totals;
  const summary = `params ${human(t.params)} (${t.params}) without BN, ${human(t.params + t.bnParams)} with BN; MACs ${human(t.macs)} (${t.macs}); interactions ${human(t.interactions)}`;
  return [header, "", body, "", summary].join("\n");
}
