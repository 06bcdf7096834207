// The demo page: pick a model, see its statistics, run it on WebGPU in this browser on a test
// pattern or a dropped video, and see the top-5 classes and a per-kernel profile.
// Bundled by `npm run build` into dist/demo/app.js; served by examples/browser/serve.mjs.
import { checkFile, type Graph, type Value } from "../../compiler/index.js";
import { shippedScheme, type SourceHost } from "../../compiler/source.js";
import { statsReport } from "../../compiler/stats/report.js";
import { formatDiagnostic } from "../../grammar/index.js";
import { requestBrowserDevice } from "../../runtime/browser.js";
import type { Naming } from "../../runtime/naming.js";
import { loadWeights } from "../../runtime/load-weights.js";
import { createSession } from "../../runtime/session.js";
import { buildViews } from "../../runtime/video-sampling.js";
import { setupTraining } from "./train.js";
import { decodeFrames } from "./decode.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string, error = false) => {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
};

// The .csn files of models/, fetched once, behind a source host.
let files: Record<string, string> = {};
const normalise = (p: string) => {
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "..") out.pop();
    else if (part && part !== ".") out.push(part);
  }
  return "/" + out.join("/");
};

let kinetics: Promise<string[] | undefined> | undefined;
/** The 400 Kinetics class names the demo server serves, fetched once; undefined if missing. */
function kineticsLabels(): Promise<string[] | undefined> {
  kinetics ??= fetch("/labels/kinetics400.txt")
    .then((r) => (r.ok ? r.text() : undefined))
    .then((t) =>
      t
        ?.split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== ""),
    )
    .then((names) => (names?.length === 400 ? names : undefined))
    .catch(() => undefined);
  return kinetics;
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

// models/ is served from '/models', so `csnc:lib/blocks.csn` is /models/lib/blocks.csn.
const host: SourceHost = {
  read: (file) => files[normalise(file).slice(1)],
  resolve: (from, spec) =>
    spec.startsWith(shippedScheme)
      ? normalise("/models/" + spec.slice(shippedScheme.length))
      : normalise(from.slice(0, from.lastIndexOf("/")) + "/" + spec),
  inside: (root, file) =>
    normalise(root) === "/" || normalise(file).startsWith(normalise(root) + "/"),
  display: (file) => normalise(file).slice(1),
  shippedRoot: "/models",
};

const human = (n: number) => {
  for (const [s, u] of [
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "K"],
  ] as const)
    if (n >= s) return `${(n / s).toFixed(2)} ${u}`;
  return String(n);
};

function build(eps?: number, o: { classes?: number; batch?: number } = {}): Graph | undefined {
  const dims = ($("input") as HTMLInputElement).value.split("x").map(Number);
  const int = (v: string) => ({ type: "int" as const, value: Number(v) });
  const set = new Map<string, Value>([
    ["width", int(($("width") as HTMLInputElement).value)],
    ["classes", int(String(o.classes ?? ($("classes") as HTMLInputElement).value))],
  ]);
  // A checkpoint's BN epsilon (PyTorchVideo: 1e-5), for models that take `eps`.
  if (eps !== undefined && /\beps\s*:/.test(files[($("model") as HTMLSelectElement).value] ?? ""))
    set.set("eps", { type: "float", value: eps });
  const r = checkFile("/" + ($("model") as HTMLSelectElement).value, "/", host, {
    set,
    input: dims as [number, number, number, number],
    batch: o.batch,
  });
  if (r.diagnostics.length) {
    status(r.diagnostics.map((d) => formatDiagnostic(d, r.sources)).join("\n"), true);
    return undefined;
  }
  return r.graphs[0];
}

function bars(
  svg: SVGSVGElement,
  rows: { label: string; values: number[] }[],
  colors: string[],
  legend: string[],
) {
  const width = 520;
  const barHeight = 10;
  const rowHeight = barHeight * colors.length + 8;
  const max = colors.map((_, i) => Math.max(1e-12, ...rows.map((r) => r.values[i]!)));
  let s = legend
    .map(
      (l, i) =>
        `<rect x="${150 + i * 170}" y="2" width="10" height="10" fill="${colors[i]}"/><text x="${165 + i * 170}" y="11">${l}</text>`,
    )
    .join("");
  rows.forEach((r, k) => {
    const y = 22 + k * rowHeight;
    s += `<text x="0" y="${y + barHeight}">${r.label}</text>`;
    r.values.forEach((v, i) => {
      s += `<rect class="bar" x="150" y="${y + i * barHeight}" width="${Math.max(1, (v / max[i]!) * (width - 160))}" height="${barHeight - 1}" fill="${colors[i]}"><title>${r.label}: ${v}</title></rect>`;
    });
  });
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(26 + rows.length * rowHeight));
  svg.innerHTML = s;
}

function showStats() {
  const graph = build();
  if (!graph) return;
  const report = statsReport(graph, new Map());
  const rows = report.stages.map(
    (g) =>
      `<tr><td>${g.name}</td><td>${human(g.params)}</td><td>${human(g.macs)}</td><td>${human(g.interactions)}</td></tr>`,
  );
  const t = report.totals;
  $("stats").innerHTML =
    `<tr><th>stage</th><th>params</th><th>MACs</th><th>interactions</th></tr>${rows.join("")}<tr><th>total</th><th>${human(t.params)}</th><th>${human(t.macs)}</th><th>${human(t.interactions)}</th></tr>`;
  bars(
    $("stage-chart") as unknown as SVGSVGElement,
    report.stages.map((g) => ({ label: g.name, values: [g.macs, g.interactions] })),
    ["#4a7bd0", "#e0893a"],
    ["MACs", "channel interactions"],
  );
  status(`${graph.model}: ${report.layers.length} layers, input ${report.inputShape.join("x")}`);
}

// A moving colour gradient, normalised like VMZ's inputs.
function testPattern(shape: readonly number[]): Float32Array {
  const [n, c, T, H, W] = shape as [number, number, number, number, number];
  const out = new Float32Array(n * c * T * H * W);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let t = 0; t < T; t++)
        for (let y = 0; y < H; y++)
          for (let x = 0; x < W; x++) {
            const v = 127.5 + 127.5 * Math.sin((x + 3 * t) / 6 + ch * 2 + y / 9);
            out[(((b * c + ch) * T + t) * H + y) * W + x] =
              (v - [110.201, 100.64, 95.997][ch % 3]!) / [58.149, 56.47, 55.332][ch % 3]!;
          }
  return out;
}

// The same test-time preprocessing as `csnc classify` (runtime/video-sampling.ts): T frames at
// rate 2 from the middle of the video (frame count from its duration at an assumed 30 fps: the
// video element does not expose the rate), shorter side resized to 256/224 of the crop, centre
// crop, VMZ normalisation.
async function decodeVideo(file: File, shape: readonly number[]): Promise<Float32Array> {
  const [, , T, H, W] = shape as [number, number, number, number, number];
  if (H !== W) throw new Error(`video input needs a square crop; the model's input is ${H}x${W}`);
  const { frames, indices, size } = await decodeFrames(file, T, Math.round((H * 256) / 224));
  return buildViews(frames, size, [indices], H, 1, "vmz");
}

async function run() {
  const weightsFile = ($("weights") as HTMLInputElement).files?.[0];
  let loaded: ReturnType<typeof loadWeights> | undefined;
  try {
    loaded = weightsFile
      ? loadWeights(
          new Uint8Array(await weightsFile.arrayBuffer()),
          weightsFile.name,
          ($("naming") as HTMLSelectElement).value as Naming | "auto",
        )
      : undefined;
  } catch (e) {
    return status(String((e as Error).message ?? e), true);
  }
  const graph = build(loaded?.bnEps);
  if (!graph) return;
  if (!navigator.gpu) return status("this browser has no WebGPU (navigator.gpu)", true);
  status("compiling…");
  const gpu = await requestBrowserDevice().catch(() => undefined);
  if (!gpu) return status("no WebGPU adapter", true);
  const { device } = gpu;
  try {
    // The same reader as the CLI: safetensors or PyTorch checkpoints, any supported naming.
    const session = await createSession({
      graph,
      weights: loaded
        ? { tensors: loaded.tensors, naming: loaded.naming, source: weightsFile?.name }
        : { random: 1 },
      device,
    });
    const { plan } = session;
    const videoFile = ($("video") as HTMLInputElement).files?.[0];
    const clip = videoFile
      ? await decodeVideo(videoFile, plan.input.shape)
      : testPattern(plan.input.shape);
    status("running…");
    const start = performance.now();
    const out = await session.run(clip);
    const ms = performance.now() - start;
    const classes = plan.logits.shape[1]!;
    const p = out.probabilities.subarray(0, classes);
    const top = [...p.keys()].sort((a, b) => p[b]! - p[a]!).slice(0, 5);
    // A 400-class model is taken as Kinetics-400, as csnc run and classify take it.
    const names = classes === 400 ? await kineticsLabels() : undefined;
    $("top").innerHTML = top
      .map(
        (k) =>
          `<li>${names?.[k] ? `${k} ${escapeHtml(names[k])}` : `class ${k}`} <b>${(100 * p[k]!).toFixed(2)}%</b></li>`,
      )
      .join("");
    const times = await session.profile();
    const kernels = plan.dispatches
      .map((d, i) => ({ label: d.path, values: [times.ms[i]!] }))
      .sort((a, b) => b.values[0]! - a.values[0]!)
      .slice(0, 12);
    bars(
      $("profile-chart") as unknown as SVGSVGElement,
      kernels,
      ["#5aa469"],
      [`ms per kernel (${times.method === "timestamp" ? "GPU timestamps" : "wall clock"})`],
    );
    status(
      `${plan.model} on ${gpu.description}: ${plan.dispatches.length} dispatches, ${ms.toFixed(1)} ms, ${weightsFile ? weightsFile.name : "random weights"}, ${videoFile ? videoFile.name : "test pattern"}`,
    );
    session.destroy();
  } catch (e) {
    status(String((e as Error).message ?? e), true);
  } finally {
    device.destroy();
  }
}

async function main() {
  files = await (await fetch("/api/models")).json();
  const select = $("model") as HTMLSelectElement;
  for (const name of Object.keys(files).filter((f) => !f.includes("/lib/")))
    select.add(new Option(name.replace(/^models\//, ""), name));
  select.value = "models/ir-csn-50.csn";
  for (const id of ["model", "width", "classes", "input"])
    $(id).addEventListener("change", showStats);
  $("run").addEventListener("click", () => void run());
  // Fine-tuning: the model above with one class per label, from the weights above (or random).
  setupTraining({
    build: ({ classes, batch, eps }) => build(eps, { classes, batch }),
    weights: async () => {
      const f = ($("weights") as HTMLInputElement).files?.[0];
      if (!f) return undefined;
      const naming = ($("naming") as HTMLSelectElement).value as Naming | "auto";
      return {
        weights: loadWeights(new Uint8Array(await f.arrayBuffer()), f.name, naming),
        file: f.name,
      };
    },
  });
  showStats();
}

void main();
