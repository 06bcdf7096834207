// The demo's Fine-tune panel: a few dropped videos, a label each, then SGD on WebGPU in this
// browser (the FC layer only, or the whole model), a live loss curve, and Classify with the
// trained model. Training runs in the library (runtime/train), as `csnc train` does.
import type { Graph } from "../../compiler/index.js";
import {
  buildTrainProgram,
  createTrainer,
  kernelLimits,
  requestBrowserDevice,
  startingTensors,
  type LoadedWeights,
  type Trainer,
} from "../../runtime/index-browser.js";
import { cutClip, type ClipPlan } from "../../runtime/train/augment.js";
import { decodeFrames, type Frames } from "./decode.js";
import { prng } from "../../runtime/random.js";

export interface TrainHost {
  /** The demo's model with `classes` classes and a batch of `batch`; undefined on errors (said). */
  readonly build: (o: { classes: number; batch: number; eps?: number }) => Graph | undefined;
  /** The weights file the demo loads, if any (undefined: random weights). */
  readonly weights: () => Promise<{ weights: LoadedWeights; file: string } | undefined>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const say = (text: string, error = false) => {
  $("train-status").textContent = text;
  $("train-status").className = error ? "error" : "";
};
const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** One clip: a random crop and flip for training (`random`), the centre crop otherwise. */
function clipOf(f: Frames, H: number, W: number, random?: () => number): Float32Array {
  const x = f.size.width - W;
  const y = f.size.height - H;
  const plan: ClipPlan = {
    indices: f.indices,
    looped: false,
    resized: f.size,
    origin: random
      ? [Math.floor(random() * (x + 1)), Math.floor(random() * (y + 1))]
      : [Math.floor(x / 2), Math.floor(y / 2)],
    flip: random ? random() < 0.5 : false,
  };
  return cutClip(f.frames, plan, { height: H, width: W }, "vmz");
}

/** The loss curve: one point per step, redrawn after each. */
function drawCurve(losses: readonly number[], steps: number) {
  const svg = $("loss-chart") as unknown as SVGSVGElement;
  const [w, h, left, bottom] = [420, 160, 40, 18];
  const max = Math.max(1e-6, ...losses);
  const px = (i: number) => left + (i / Math.max(1, steps - 1)) * (w - left - 8);
  const py = (v: number) => 6 + (1 - v / max) * (h - bottom - 6);
  const points = losses.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`);
  svg.setAttribute("width", String(w));
  svg.setAttribute("height", String(h));
  svg.dataset.losses = JSON.stringify(losses);
  svg.innerHTML =
    `<line x1="${left}" y1="${h - bottom}" x2="${w - 4}" y2="${h - bottom}" stroke="#999"/>` +
    `<line x1="${left}" y1="4" x2="${left}" y2="${h - bottom}" stroke="#999"/>` +
    `<text x="0" y="12">${max.toFixed(2)}</text><text x="0" y="${h - bottom}">0</text>` +
    `<text x="${left}" y="${h - 4}">step 1</text><text x="${w - 60}" y="${h - 4}">step ${steps}</text>` +
    `<polyline fill="none" stroke="#c0392b" stroke-width="1.5" points="${points.join(" ")}"/>` +
    losses
      .map(
        (v, i) =>
          `<circle class="point" cx="${px(i).toFixed(1)}" cy="${py(v).toFixed(1)}" r="2" fill="#c0392b"><title>step ${i + 1}: ${v.toFixed(4)}</title></circle>`,
      )
      .join("");
}

interface Trained {
  readonly trainer: Trainer;
  readonly device: GPUDevice;
  readonly names: readonly string[];
  readonly clip: readonly [number, number, number, number];
}

let trained: Trained | undefined;
let busy = false;

/** The label of a file: its text field, else the file name's prefix before `_`, `-` or `.`. */
const defaultLabel = (name: string) => name.split(/[_\-. ]/)[0] ?? name;

function listVideos() {
  const files = Array.from(($("train-videos") as HTMLInputElement).files ?? []);
  $("train-list").innerHTML = files
    .map(
      (f, i) =>
        `<li><span>${escapeHtml(f.name)}</span> <input class="train-label" data-index="${i}" value="${escapeHtml(defaultLabel(f.name))}" aria-label="label of ${escapeHtml(f.name)}"/></li>`,
    )
    .join("");
}

async function train(host: TrainHost) {
  const files = Array.from(($("train-videos") as HTMLInputElement).files ?? []);
  const labels = Array.from(document.querySelectorAll<HTMLInputElement>(".train-label")).map((l) =>
    l.value.trim(),
  );
  const steps = Number(($("train-steps") as HTMLInputElement).value);
  const lr = Number(($("train-lr") as HTMLInputElement).value);
  const whole = ($("train-scope") as HTMLSelectElement).value === "whole";
  if (files.length < 2) return say("drop at least two labelled videos", true);
  if (labels.some((l) => l === "")) return say("every video needs a label", true);
  const names = [...new Set(labels)].sort();
  if (names.length < 2)
    return say(`fewer than 2 labels (${names.join(", ")}): nothing to learn`, true);
  if (!(Number.isInteger(steps) && steps >= 1 && steps <= 10000))
    return say("steps: a whole number from 1 to 10000", true);
  if (!(lr > 0 && lr < 10)) return say("learning rate: a number above 0 and below 10", true);
  if (!navigator.gpu) return say("this browser has no WebGPU (navigator.gpu)", true);

  let loaded: Awaited<ReturnType<TrainHost["weights"]>>;
  try {
    loaded = await host.weights();
  } catch (e) {
    return say(String((e as Error).message ?? e), true);
  }
  const batch = Math.min(4, files.length);
  const graph = host.build({ classes: names.length, batch, eps: loaded?.weights.bnEps });
  if (!graph) return say("the model does not build: see the status line above", true);
  const input = graph.nodes.find((n) => n.op.kind === "input")!.shape;
  const [, , T, H, W] = input as unknown as [number, number, number, number, number];
  trained?.trainer.destroy();
  trained?.device.destroy();
  trained = undefined;
  const gpu = await requestBrowserDevice().catch(() => undefined);
  if (!gpu) return say("no WebGPU adapter", true);
  const { device } = gpu;
  try {
    say(`decoding ${files.length} videos…`);
    const side = Math.round((Math.max(H, W) * 256) / 224);
    const clips: { frames: Frames; label: number }[] = [];
    const skipped: string[] = [];
    for (const [i, f] of files.entries()) {
      try {
        clips.push({
          frames: await decodeFrames(f, T, side),
          label: names.indexOf(labels[i]!),
        });
      } catch (e) {
        skipped.push(`${f.name} (${(e as Error).message})`);
      }
    }
    const skippedText = skipped.length ? `; skipped ${skipped.join(", ")}` : "";
    if (new Set(clips.map((c) => c.label)).size < 2)
      throw new Error(`fewer than 2 labels among the videos the browser decoded${skippedText}`);

    say("compiling the training program…");
    // The classifier: the (last) fully connected layer; FC only freezes every other layer.
    const classifier = graph.nodes.filter((n) => n.op.kind === "fc").at(-1)?.path;
    const program = buildTrainProgram(graph, {
      limits: kernelLimits(device),
      // FC only: every layer but the classifier (the layer owning the logits) stays fixed.
      freeze: whole
        ? []
        : graph.nodes
            .filter((n) => (n.op.kind === "conv" || n.op.kind === "bn") && n.path !== classifier)
            .map((n) => n.path),
    });
    const start = startingTensors(
      program,
      1,
      loaded && {
        tensors: loaded.weights.tensors,
        naming: loaded.weights.naming,
        file: loaded.file,
      },
    );
    const trainer = await createTrainer({ program, device, tensors: start.tensors });
    trained = { trainer, device, names, clip: program.clip };

    const per = 3 * T * H * W;
    const random = prng(1);
    const losses: number[] = [];
    let correct = 0;
    let seen = 0;
    const began = performance.now();
    for (let step = 0; step < steps; step++) {
      // The clips in turn (a batch wraps around to fill up), each with a fresh random crop and flip.
      const batchInput = new Float32Array(batch * per);
      const batchLabels: number[] = [];
      for (let i = 0; i < batch; i++) {
        const clip = clips[(step * batch + i) % clips.length]!;
        batchInput.set(clipOf(clip.frames, H, W, random), i * per);
        batchLabels.push(clip.label);
      }
      const r = await trainer.step(
        { input: batchInput, labels: batchLabels },
        { lr, momentum: 0.9, weightDecay: 1e-4, seed: 1, step },
      );
      if (!r.finite)
        throw new Error(
          `step ${step + 1} gave a non-finite loss or gradient (loss ${r.loss}); it changed nothing: try a smaller learning rate`,
        );
      losses.push(r.loss);
      correct += r.correct;
      seen += batch;
      drawCurve(losses, steps);
      $("train-accuracy").textContent =
        `step ${step + 1}/${steps}: loss ${r.loss.toFixed(4)}, batch accuracy ${((100 * r.correct) / batch).toFixed(0)}%, running ${((100 * correct) / seen).toFixed(0)}%`;
    }
    // Evaluation-mode accuracy on the (centre-cropped) training videos.
    let right = 0;
    for (const c of clips) {
      const logits = await trainer.evaluate(clipOf(c.frames, H, W));
      if (argmax(logits) === c.label) right++;
    }
    const seconds = (performance.now() - began) / 1000;
    say(
      `trained ${program.model} (${whole ? "whole model" : "FC only"}, ${names.length} classes: ${names.join(", ")}) for ${steps} steps of ${batch} in ${seconds.toFixed(1)} s on ${gpu.description}: loss ${losses[0]!.toFixed(3)} → ${losses.at(-1)!.toFixed(3)}, accuracy on the training videos ${right}/${clips.length}${skippedText}`,
      skipped.length > 0,
    );
    ($("classify") as HTMLButtonElement).disabled = false;
  } catch (e) {
    trained?.trainer.destroy();
    trained = undefined;
    device.destroy();
    say(String((e as Error).message ?? e), true);
  }
}

const argmax = (row: ArrayLike<number>) => {
  let best = 0;
  for (let j = 1; j < row.length; j++) if (row[j]! > row[best]!) best = j;
  return best;
};

async function classify() {
  const file = ($("classify-video") as HTMLInputElement).files?.[0];
  if (!trained) return say("train first", true);
  if (!file) return say("choose a video to classify", true);
  const [, T, H, W] = trained.clip;
  try {
    const frames = await decodeFrames(file, T, Math.round((Math.max(H, W) * 256) / 224));
    const logits = await trained.trainer.evaluate(clipOf(frames, H, W));
    const max = Math.max(...logits);
    const e = [...logits].map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    const best = argmax(logits);
    $("prediction").innerHTML =
      `${escapeHtml(file.name)}: <b id="predicted">${escapeHtml(trained.names[best]!)}</b> ` +
      trained.names
        .map((n, i) => `${escapeHtml(n)} ${((100 * e[i]!) / sum).toFixed(1)}%`)
        .join(", ");
  } catch (e) {
    say(String((e as Error).message ?? e), true);
  }
}

/** Wires the panel's controls (index.html's #finetune section). */
export function setupTraining(host: TrainHost) {
  $("train-videos").addEventListener("change", listVideos);
  $("train").addEventListener("click", () => {
    if (busy) return;
    busy = true;
    ($("train") as HTMLButtonElement).disabled = true;
    void train(host).finally(() => {
      busy = false;
      ($("train") as HTMLButtonElement).disabled = false;
    });
  });
  $("classify").addEventListener("click", () => void classify());
}
