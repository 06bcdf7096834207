// `npm run bench:gpu`: every GPU check and measurement issue 13 asks for, in one prepared run
// for the few minutes a lent GPU gives. Here: `bash bench/gpu-pack.sh`; then the device tool
// with carry [".device"] and the command (that machine has Node from .device, but no npm)
//   source .device/setup.sh && node --import tsx bench/gpu.ts
// Each step has its own time limit, so a hang costs only its share, and all share --deadline
// (default 540 s, inside the device call's 600): the measurements come first, the tests last,
// and a step the deadline leaves no time for is skipped. Into --out ($OUT there):
//   gpu.log       every step's command and output
//   info.json     the adapter: identity, features, subgroup-matrix configs, limits
//   results.json  each profile (f32, f16-storage, f16, tuned) and PyTorch's timings
//   tuning.json   csnc tune's file for this adapter and model
//   summary.md    the table for BENCHMARKS.md: latency, kernel and host time, against PyTorch
// A dry run of the script itself on a CPU adapter:
//   npm run bench:gpu -- --backend opengles --model models/ir-csn-mini.csn --shape 1x3x4x32x32 \
//     --tests none --budget 5 --torch-device cpu --python /usr/bin/python3
import { spawnSync } from "node:child_process";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { columns, table } from "../cli/format.js";
import { acquireAdapter, backends, type Backend } from "../runtime/adapter-node.js";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "gpu" },
    model: { type: "string", default: "models/ir-csn-152.csn" },
    shape: { type: "string", default: "1x3x32x224x224" },
    out: { type: "string", default: process.env.OUT ?? "/tmp/csnc-gpu" },
    budget: { type: "string", default: "60" },
    iterations: { type: "string", default: "10" },
    tests: { type: "string", default: "kernels" },
    "torch-device": { type: "string", default: "cuda" },
    python: { type: "string", default: "python3" },
    deadline: { type: "string", default: "540" },
  },
});
const backend = args.backend as Backend;
if (!backends.includes(backend)) fail(`--backend must be one of ${backends.join(", ")}`);
const shape = args.shape!.split("x").map(Number);
if (shape.length !== 5 || !shape.every((d) => Number.isInteger(d) && d > 0))
  fail(`--shape must be NxCxTxHxW, got '${args.shape}'`);
/** A whole-number option of at least `min`, checked before any GPU time is spent. */
function whole(name: string, min: number): number {
  const n = Number(args[name as keyof typeof args]);
  if (!Number.isInteger(n) || n < min) fail(`--${name} must be a whole number of at least ${min}`);
  return n;
}
const budget = whole("budget", 1);
whole("iterations", 1);
// The device call's limit is 600 s: every step shares this deadline, the last ones cut short.
const deadline = performance.now() + whole("deadline", 60) * 1000;
const testFiles: Record<string, string[]> = {
  kernels: [
    "test/webgpu.test.ts",
    "test/kernels.property.test.ts",
    "test/kernels-gpu-grade.property.test.ts",
    "test/precision.test.ts",
  ],
  none: [],
};
const files = testFiles[args.tests!] ?? fail("--tests must be kernels or none");
const out = path.resolve(args.out!);
mkdirSync(out, { recursive: true });
const logFile = path.join(out, "gpu.log");
writeFileSync(logFile, "");
// From the sources through tsx: the device machine gets no dist/ (bench/gpu-pack.sh).
const cli = ["--import", "tsx", path.resolve("cli/bin.ts")];
const sizeArgs = ["--input", shape.slice(1).join("x"), "--batch", String(shape[0])];

function fail(message: string): never {
  process.stderr.write(`bench:gpu: ${message}\n`);
  process.exit(2);
}
function log(text: string): void {
  process.stdout.write(text + "\n");
  appendFileSync(logFile, text + "\n");
}

/**
 * Runs a step's command with a time limit (its own, or what is left before the deadline less
 * 10 s for the summary), logging all of it; its stdout, or undefined.
 */
function step(name: string, limit: number, cmd: string, argv: string[], env = {}) {
  const seconds = Math.min(limit, Math.floor((deadline - performance.now()) / 1000) - 10);
  if (seconds < 5) {
    log(`\n== ${name}: skipped, the deadline is near`);
    return undefined;
  }
  log(`\n== ${name}: ${cmd} ${argv.join(" ")} (limit ${seconds} s)`);
  const started = performance.now();
  const r = spawnSync(cmd, argv, {
    env: { ...process.env, ...env },
    encoding: "utf8",
    timeout: seconds * 1000,
    maxBuffer: 256 << 20,
  });
  const took = ((performance.now() - started) / 1000).toFixed(1);
  appendFileSync(logFile, `${r.stdout ?? ""}${r.stderr ?? ""}`);
  const ok = r.status === 0;
  log(
    `-- ${name}: ${ok ? "ok" : r.error ? `${r.error.message}` : `exit ${r.status}`} in ${took} s`,
  );
  if (!ok) log((r.stderr ?? "").split("\n").slice(-15).join("\n"));
  return ok ? r.stdout : undefined;
}

// 1. The adapter, with Dawn's unsafe APIs on so that subgroup-matrix configs are reported.
const { adapter, description } = await acquireAdapter(backend, {
  toggles: ["allow_unsafe_apis"],
}).catch((e: Error) => fail(e.message));
const info: Record<string, unknown> = {};
for (const k in adapter.info) info[k] = (adapter.info as unknown as Record<string, unknown>)[k];
const features = [...adapter.features].sort();
const limits: Record<string, number> = {};
for (const k in adapter.limits)
  limits[k] = (adapter.limits as unknown as Record<string, number>)[k]!;
writeFileSync(
  path.join(out, "info.json"),
  JSON.stringify({ description, info, features, limits }, null, 2),
);
log(`adapter: ${description}\nfeatures: ${features.join(" ")}`);
const halfArithmetic = features.includes("shader-f16");

// 2. Latency and per-kernel time at each precision with the built-in choices, and PyTorch
// eager on the same card (float32 without TF32, and float16): the figures first, in case a
// later step runs out the call's time.
interface Profile {
  latency: { medianMs: number; gflops: number };
  kernelTiming: string;
  kernelSumMs: number;
  memory: { activationBytes: number };
}
const profiles: { label: string; profile?: Profile }[] = [];
const torch: Record<string, number | undefined> = {};
let tests = "not run";
const profile = (label: string, extra: string[]) => {
  const argv = [...cli, "profile", args.model!, ...sizeArgs, "--backend", backend, "--json"];
  argv.push("--iterations", args.iterations!, "--warmup", "3", ...extra);
  const text = step(`profile ${label}`, 180, process.execPath, argv);
  profiles.push({ label, profile: parsed<Profile>(text, label) });
};
const precisions = ["f32", "f16-storage", ...(halfArithmetic ? ["f16"] : [])];
for (const p of precisions) profile(p, ["--precision", p, "--tuning", "none"]);

const arch = /(ir|ip)-csn-(\d+)/.exec(path.basename(args.model!));
if (arch)
  for (const dtype of ["float32", "float16"]) {
    const py = ["bench/torch_csn.py", "--mode", arch[1]!, "--depth", arch[2]!];
    py.push("--shape", args.shape!, "--device", args["torch-device"]!, "--dtype", dtype);
    const text = step(`PyTorch ${dtype}`, 180, args.python!, py, { PYTHONUNBUFFERED: "1" });
    const last = text?.trim().split("\n").at(-1);
    torch[dtype] = parsed<{ median_ms: number }>(last, `PyTorch ${dtype}`)?.median_ms;
  }
else log(`\n(no PyTorch twin for ${args.model}: bench/torch_csn.py builds ir- and ip-CSN only)`);
summarise();

// 3. csnc tune on this adapter, and the tuned plan's profile.
const tuningFile = path.join(out, "tuning.json");
const tune = [...cli, "tune", args.model!, ...sizeArgs, "--backend", backend, "--no-cache"];
tune.push("--budget", String(budget), "-o", tuningFile);
const tuned = step("tune", budget + 120, process.execPath, tune) !== undefined;
if (tuned) profile("f32 tuned", ["--tuning", tuningFile]);
summarise();

// 4. The differential kernel tests and the fixtures on this adapter (test/backends.ts), with
// the real half-arithmetic tests where it is hardware.

if (files.length) {
  const vitest = [path.resolve("node_modules/vitest/vitest.mjs"), "run", ...files];
  const r = step("tests", 300, process.execPath, vitest, { CSNC_TEST_BACKENDS: backend });
  tests = r === undefined ? "FAILED (gpu.log has the failures)" : "passed";
}
summarise();
process.exit(tests.startsWith("FAILED") || !tuned || profiles.some((p) => !p.profile) ? 1 : 0);

/** A step's JSON output, or undefined (logged) when it printed something else. */
function parsed<T>(text: string | undefined, what: string): T | undefined {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    log(`-- ${what}: its output is not JSON (gpu.log has it)`);
    return undefined;
  }
}

/** summary.md and results.json as they stand: host time is the latency outside the kernels. */
function summarise(): void {
  writeFileSync(
    path.join(out, "results.json"),
    JSON.stringify({ profiles, torch, tests }, null, 2),
  );
  const ms = (x?: number) => (x === undefined ? "-" : x.toFixed(2));
  const vs = (x?: number, y?: number) => (x && y ? `${(x / y).toFixed(2)}x` : "-");
  const rows = profiles.map(({ label, profile: p }) => [
    label,
    ms(p?.latency.medianMs),
    ms(p?.kernelSumMs),
    ms(p ? p.latency.medianMs - p.kernelSumMs : undefined),
    p ? p.latency.gflops.toFixed(0) : "-",
    p ? `${(p.memory.activationBytes / 2 ** 20).toFixed(1)} MiB` : "-",
    vs(p?.latency.medianMs, torch.float32),
    vs(p?.latency.medianMs, torch.float16),
  ]);
  const timing = profiles.find((p) => p.profile)?.profile?.kernelTiming ?? "-";
  const right = ["median ms", "kernels ms", "host ms", "GFLOP/s", "activations"];
  const summary = [
    `${args.model} at ${args.shape} on ${description} (backend ${backend}), ${new Date().toISOString()}`,
    `command: npm run bench:gpu -- ${process.argv.slice(2).join(" ")}`,
    `kernel times: ${timing}; host = median latency - summed kernel times`,
    `PyTorch eager: float32 ${ms(torch.float32)} ms, float16 ${ms(torch.float16)} ms`,
    `differential tests and fixtures on this adapter: ${tests}`,
    "",
    "```",
    table(columns(["csnc"], [...right, "vs PyTorch f32", "vs PyTorch f16"]), rows),
    "```",
  ].join("\n");
  writeFileSync(path.join(out, "summary.md"), summary + "\n");
  log(`\n${summary}`);
}
