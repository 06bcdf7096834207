// Training checkpoints: every parameter and running statistic (csnc names), each SGD momentum
// buffer as `momentum.<name>`, and in the metadata the steps done and the recipe they were
// done with, so that a resumed run can refuse one that would not continue the same run.
import { catalog } from "../../grammar/codes.js";
import { CsncError } from "../errors.js";
import { readSafetensors, writeSafetensors } from "../safetensors.js";
import type { TrainState } from "./trainer.js";

/** What must match for a resumed run to continue the same one. */
export type Recipe = Readonly<Record<string, string | number | boolean>>;

export interface Checkpoint {
  readonly steps: number;
  readonly recipe: Recipe;
  readonly state: TrainState;
}

const key = "csnc_train_checkpoint";

export function writeCheckpoint(
  state: TrainState,
  steps: number,
  recipe: Recipe,
  shapes: ReadonlyMap<string, readonly number[]>,
): Uint8Array {
  const out = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [name, data] of state.tensors)
    out.set(name, { shape: shapes.get(name) ?? [data.length], data });
  for (const [name, data] of state.momentum)
    out.set(`momentum.${name}`, { shape: shapes.get(name) ?? [data.length], data });
  return writeSafetensors(out, {
    [key]: JSON.stringify({ version: 1, steps, recipe }),
    csnc_naming: "csnc",
  });
}

export function readCheckpoint(bytes: Uint8Array, file: string): Checkpoint {
  const { tensors, metadata } = readSafetensors(bytes, file);
  const bad = (why: string) => new CsncError(catalog.training.badCheckpoint, `${file}: ${why}`);
  const text = metadata[key];
  if (text === undefined)
    throw bad("not a csnc training checkpoint (csnc train writes them with --checkpoint)");
  let record: { version?: unknown; steps?: unknown; recipe?: unknown };
  try {
    record = JSON.parse(text);
  } catch {
    throw bad("its checkpoint metadata is not JSON");
  }
  if (record.version !== 1 || !Number.isSafeInteger(record.steps) || (record.steps as number) < 0)
    throw bad("its checkpoint metadata has no valid version and step count");
  const recipe = record.recipe;
  if (
    typeof recipe !== "object" ||
    recipe === null ||
    Array.isArray(recipe) ||
    !Object.values(recipe).every((v) => ["string", "number", "boolean"].includes(typeof v))
  )
    throw bad("its checkpoint metadata has no valid recipe");
  const state: TrainState = { tensors: new Map(), momentum: new Map() };
  for (const [name, t] of tensors) {
    if (!t.data) throw bad(`tensor ${name} is not float32`);
    if (name.startsWith("momentum.")) state.momentum.set(name.slice("momentum.".length), t.data);
    else state.tensors.set(name, t.data);
  }
  return { steps: record.steps as number, recipe: recipe as Recipe, state };
}

/** The recipe entries of `now` that differ from the checkpoint's, as "name: then -> now". */
export function recipeChanges(saved: Recipe, now: Recipe): string[] {
  const names = new Set([...Object.keys(saved), ...Object.keys(now)]);
  return [...names]
    .filter((n) => saved[n] !== now[n])
    .map((n) => `${n}: ${JSON.stringify(saved[n] ?? null)} -> ${JSON.stringify(now[n] ?? null)}`);
}
