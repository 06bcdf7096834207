// A seeded synthetic video task that needs motion (`csnc data synth`): each clip shows one or
// two shapes (discs or squares, random sizes and colours) drifting over a noisy background,
// and the class is the direction (and, past 8 classes, the speed) of their motion. The frame
// wraps around (a torus) and start positions are uniform, so every single frame has the same
// distribution whatever the class: only the motion between frames tells the label.
import { catalog } from "../../grammar/codes.js";
import { CsncError } from "../errors.js";
import { prng } from "../random.js";

export { prng };

export interface SynthOptions {
  /** K: 2 to 16 classes. */
  readonly classes: number;
  /** N clips, classes balanced (counts differ by at most one). */
  readonly clips: number;
  /** T frames per clip. */
  readonly frames: number;
  /** S: frames are S x S. */
  readonly size: number;
  readonly seed: number;
}

export interface SynthClips {
  /** N x 3 x T x S x S float32, normalised over the whole set (mean 0, std 1). */
  readonly input: Float32Array;
  /** N class indices. */
  readonly labels: Int32Array;
  readonly shape: readonly [number, number, number, number, number];
  /** The class names, by index ("right", "left", ..., "right-fast"). */
  readonly classNames: readonly string[];
  /** The generator's parameters, for the file's __metadata__. */
  readonly metadata: Readonly<Record<string, string>>;
}

/** The accepted ranges; the CLI's options read them. */
export const synthLimits = {
  classes: { min: 2, max: 16 },
  clips: { min: 1, max: 1_000_000 },
  frames: { min: 2, max: 256 },
  size: { min: 8, max: 512 },
  seed: { min: 0, max: 2 ** 32 - 1 },
} as const;

/** The most bytes of float32 input a synthetic set may hold (1 GiB). */
export const maxSynthBytes = 2 ** 30;

const directions: readonly [string, number, number][] = [
  ["right", 1, 0],
  ["left", -1, 0],
  ["down", 0, 1],
  ["up", 0, -1],
  ["down-right", Math.SQRT1_2, Math.SQRT1_2],
  ["up-left", -Math.SQRT1_2, -Math.SQRT1_2],
  ["down-left", -Math.SQRT1_2, Math.SQRT1_2],
  ["up-right", Math.SQRT1_2, -Math.SQRT1_2],
];

/**
 * Each class's motion in pixels per frame: the 8 compass directions at the base speed, then
 * (classes 9 to 16) the same directions twice as fast. The base speed moves a shape a quarter
 * of the frame over the clip, at least half a pixel a frame.
 */
export function synthMotions(
  classes: number,
  frames: number,
  size: number,
): { name: string; dx: number; dy: number }[] {
  const base = Math.max(0.5, size / (4 * (frames - 1)));
  return [...Array(classes).keys()].map((k) => {
    const [name, x, y] = directions[k % 8]!;
    const speed = k < 8 ? base : 2 * base;
    return { name: k < 8 ? name : `${name}-fast`, dx: x * speed, dy: y * speed };
  });
}

/** What is wrong with `o`, in words, or undefined. */
export function synthProblem(o: SynthOptions): string | undefined {
  for (const key of Object.keys(synthLimits) as (keyof typeof synthLimits)[]) {
    const { min, max } = synthLimits[key];
    const v = o[key];
    if (!(Number.isSafeInteger(v) && v >= min && v <= max))
      return `${key} must be an integer from ${min} to ${max}, got ${v}`;
  }
  const bytes = 4 * o.clips * 3 * o.frames * o.size * o.size;
  if (bytes > maxSynthBytes)
    return `${o.clips} clips of 3 x ${o.frames} x ${o.size} x ${o.size} would take ${(bytes / 2 ** 30).toFixed(2)} GiB; the limit is ${maxSynthBytes / 2 ** 30} GiB: use fewer clips, frames or a smaller size`;
  return undefined;
}

/** A seed for stream `index` of `seed`: independent streams from one seed. */
export function streamSeed(seed: number, index: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (index + 0x85ebca6b), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0x27d4eb2f) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Standard normal samples from a uniform source (Box-Muller). */
function gaussian(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const s = spare;
      spare = undefined;
      return s;
    }
    const u = 1 - random();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * random();
    spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  };
}

interface Shape {
  disc: boolean;
  x: number;
  y: number;
  radius: number;
  colour: [number, number, number];
}

/** The per-pixel noise's standard deviation, in the [0, 1] colour range. */
const noise = 0.08;

/** Renders one clip (3 x T x S x S, colours in [0, 1] plus noise) into `out` at `base`. */
function renderClip(
  out: Float32Array,
  base: number,
  o: SynthOptions,
  motion: { dx: number; dy: number },
  random: () => number,
) {
  const { frames: T, size: S } = o;
  const normal = gaussian(random);
  // Shapes, sizes and colours are drawn the same way for every class.
  const background = [0, 1, 2].map(() => 0.1 + 0.3 * random());
  const count = random() < 0.5 ? 1 : 2;
  const shapes: Shape[] = [...Array(count).keys()].map(() => ({
    disc: random() < 0.5,
    x: S * random(),
    y: S * random(),
    radius: Math.max(1.5, S * (0.08 + 0.08 * random())),
    colour: [0, 1, 2].map(() => 0.6 + 0.4 * random()) as [number, number, number],
  }));
  // A speed jitter of +-15% keeps slow and fast classes apart (2x).
  const jitter = 0.85 + 0.3 * random();
  const plane = S * S;
  const frame = new Float64Array(3 * plane);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < 3; c++) frame.fill(background[c]!, c * plane, (c + 1) * plane);
    for (const s of shapes) {
      const cx = s.x + t * motion.dx * jitter;
      const cy = s.y + t * motion.dy * jitter;
      const reach = Math.ceil(s.radius + 1);
      const edge = (d: number) => Math.min(1, Math.max(0, s.radius + 0.5 - d));
      // Only the pixels around the shape (modulo the frame: it wraps around).
      for (let oy = Math.floor(cy) - reach; oy <= Math.floor(cy) + reach; oy++)
        for (let ox = Math.floor(cx) - reach; ox <= Math.floor(cx) + reach; ox++) {
          const dx = ox + 0.5 - cx;
          const dy = oy + 0.5 - cy;
          const cover = s.disc
            ? edge(Math.sqrt(dx * dx + dy * dy))
            : edge(Math.abs(dx)) * edge(Math.abs(dy));
          if (cover <= 0) continue;
          const at = (((oy % S) + S) % S) * S + (((ox % S) + S) % S);
          for (let c = 0; c < 3; c++)
            frame[c * plane + at] = frame[c * plane + at]! * (1 - cover) + s.colour[c]! * cover;
        }
    }
    for (let c = 0; c < 3; c++) {
      const row = base + (c * T + t) * plane;
      for (let i = 0; i < plane; i++) out[row + i] = frame[c * plane + i]! + noise * normal();
    }
  }
}

/** Generates the set: deterministic for a seed, each clip from its own stream of the seed. */
export function synthClips(o: SynthOptions): SynthClips {
  const problem = synthProblem(o);
  if (problem) throw new CsncError(catalog.trainingData.badSynth, `synthetic data: ${problem}`);
  const { classes: K, clips: N, frames: T, size: S, seed } = o;
  const motions = synthMotions(K, T, S);
  // Balanced labels in a seeded order.
  const labels = new Int32Array(N);
  for (let i = 0; i < N; i++) labels[i] = i % K;
  const shuffle = prng(streamSeed(seed, 0xffffffff));
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(shuffle() * (i + 1));
    [labels[i], labels[j]] = [labels[j]!, labels[i]!];
  }
  const clipSize = 3 * T * S * S;
  const input = new Float32Array(N * clipSize);
  for (let i = 0; i < N; i++)
    renderClip(input, i * clipSize, o, motions[labels[i]!]!, prng(streamSeed(seed, i)));
  // Normalised over the whole set, in float64.
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < input.length; i++) {
    sum += input[i]!;
    squares += input[i]! * input[i]!;
  }
  const mean = sum / input.length;
  const std = Math.sqrt(Math.max(1e-12, squares / input.length - mean * mean));
  for (let i = 0; i < input.length; i++) input[i] = (input[i]! - mean) / std;
  const classNames = motions.map((m) => m.name);
  const metadata = {
    generator: "csnc data synth",
    task: "the class is the direction (and past 8 classes the speed) of the shapes' motion",
    classes: String(K),
    clips: String(N),
    frames: String(T),
    size: String(S),
    seed: String(seed),
    class_names: JSON.stringify(classNames),
    pixels_per_frame: JSON.stringify(motions.map((m) => [m.dx, m.dy])),
    normalised_mean: String(mean),
    normalised_std: String(std),
  };
  return { input, labels, shape: [N, 3, T, S, S], classNames, metadata };
}
