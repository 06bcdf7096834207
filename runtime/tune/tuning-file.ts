// The tuning file `csnc tune` writes and `--tuning` reads: per adapter identity (vendor,
// architecture, device, driver description, backend), the measured kernel choice of each step
// shape (stepKey). JSON, validated on reading: a corrupt file is an error naming it; a choice
// of the wrong form is dropped with a warning; another adapter's entry is simply not used.
import type { KernelChoice } from "../../compiler/kernels/choice.js";
import { describeIdentity, type AdapterIdentity } from "../../compiler/kernels/tuning.js";
import { CsncError, RuntimeCodes } from "../errors.js";
import { shown } from "../safetensors.js";

export const tuningFormat = "csnc-tuning";
export const tuningVersion = 1;

/** Who measured: GPUAdapterInfo's strings and the WebGPU backend. */
export interface TunedAdapter {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  /** The driver, as the adapter describes itself (e.g. "SwiftShader driver 5.0.0"). */
  readonly description: string;
  readonly backend: string;
}

export interface TuningEntry {
  readonly adapter: TunedAdapter;
  readonly method: string;
  /** When it was measured (ISO 8601), for people. */
  readonly tuned: string;
  /** Measured choices by step shape (stepKey); steps whose default won are absent. */
  readonly choices: Readonly<Record<string, KernelChoice>>;
}

export interface TuningFile {
  readonly format: typeof tuningFormat;
  readonly version: number;
  readonly entries: readonly TuningEntry[];
}

export function tunedAdapter(info: AdapterIdentity, backend: string): TunedAdapter {
  return {
    vendor: info.vendor ?? "",
    architecture: info.architecture ?? "",
    device: info.device ?? "",
    description: info.description ?? "",
    backend,
  };
}

const sameAdapter = (a: TunedAdapter, b: TunedAdapter) =>
  a.vendor === b.vendor &&
  a.architecture === b.architecture &&
  a.device === b.device &&
  a.description === b.description &&
  a.backend === b.backend;

export function describeTuned(a: TunedAdapter): string {
  return `${describeIdentity(a) || "an unnamed adapter"} (${a.backend})`;
}

const isObject = (x: unknown): x is Record<string, unknown> =>
  typeof x === "object" && x !== null && !Array.isArray(x);
const smallInt = (x: unknown) => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 4096;

/**
 * The form every kernel choice shares (choice.ts): a family name, and otherwise only booleans,
 * a storage, small positive integers (a workgroup's threads) and tiles of them. Whether the
 * variant exists for a step, and can run it, the compiler decides (candidates.ts
 * `admissible`, select.ts `generate`).
 */
function isChoiceShaped(x: unknown): x is KernelChoice {
  if (!isObject(x) || typeof x.family !== "string" || !/^[a-z][a-z0-9-]{0,40}$/.test(x.family))
    return false;
  return Object.entries(x).every(([k, v]) => {
    if (k === "family") return true;
    if (k === "storage") return v === "buffer" || v === "texture";
    if (typeof v === "boolean" || smallInt(v)) return true;
    return isObject(v) && Object.values(v).every(smallInt);
  });
}

const stringField = (o: Record<string, unknown>, k: string) =>
  typeof o[k] === "string" ? (o[k] as string) : undefined;

/**
 * Reads a tuning file's text. A file that is not one (bad JSON, another format, a newer
 * version, entries of the wrong form) is a CsncError naming `source`; single choices of the
 * wrong form are dropped and reported through `warn`.
 */
export function parseTuningFile(
  text: string,
  source: string,
  warn: (message: string) => void = () => undefined,
): TuningFile {
  try {
    return parseTuning(text, source, warn);
  } catch (e) {
    if (e instanceof CsncError) throw e;
    // JSON.parse copes with any nesting, but nothing after it may overflow or throw unnamed.
    throw new CsncError(
      RuntimeCodes.badTuning,
      `${source}: not a csnc tuning file: ${(e as Error).message}`,
    );
  }
}

/** A short, safe description of a rejected value (never a deep walk). */
function glimpse(x: unknown): string {
  if (x === null || typeof x !== "object") return String(x).slice(0, 40);
  const keys = Object.keys(x);
  return `{${keys.slice(0, 4).join(", ")}${keys.length > 4 ? ", ..." : ""}}`;
}

/** Step keys are stepKey's JSON arrays: nothing else (and no `__proto__`) becomes a property. */
const stepKeyShaped = (k: string) => k.startsWith("[") && k.length <= 4096;

function parseTuning(text: string, source: string, warn: (message: string) => void): TuningFile {
  const fail = (why: string): never => {
    throw new CsncError(RuntimeCodes.badTuning, `${source}: not a csnc tuning file: ${why}`);
  };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`invalid JSON (${(e as Error).message})`);
  }
  if (!isObject(json) || json.format !== tuningFormat)
    return fail(`expected {"format": "${tuningFormat}", ...}`);
  if (json.version !== tuningVersion)
    return fail(`version ${glimpse(json.version)}; this csnc reads version ${tuningVersion}`);
  if (!Array.isArray(json.entries)) return fail(`"entries" must be a list`);
  let dropped = 0;
  const entries = json.entries.map((e: unknown, i): TuningEntry => {
    const where = `entry ${i + 1}`;
    if (!isObject(e) || !isObject(e.adapter) || !isObject(e.choices))
      return fail(`${where} needs an "adapter" and "choices"`);
    const a = e.adapter;
    const fields = ["vendor", "architecture", "device", "description", "backend"] as const;
    for (const f of fields)
      if (stringField(a, f) === undefined) fail(`${where}: adapter.${f} must be a string`);
    const choices: Record<string, KernelChoice> = Object.create(null);
    for (const [key, choice] of Object.entries(e.choices)) {
      if (stepKeyShaped(key) && isChoiceShaped(choice)) {
        choices[key] = choice;
        continue;
      }
      // One line per bad choice, up to a few: a hostile file must not flood the terminal.
      if (++dropped <= 5) {
        const what = stepKeyShaped(key) ? `choice ${glimpse(choice)}` : "step key";
        warn(`${source}: ${where}: ignoring a malformed kernel ${what} for step ${shown(key, 60)}`);
      }
    }
    return {
      adapter: Object.fromEntries(
        fields.map((f) => [f, a[f] as string]),
      ) as unknown as TunedAdapter,
      method: stringField(e, "method") ?? "unknown",
      tuned: stringField(e, "tuned") ?? "",
      choices: { ...choices },
    };
  });
  if (dropped > 5) warn(`${source}: ... and ${dropped - 5} more malformed kernel choices ignored`);
  return { format: tuningFormat, version: tuningVersion, entries };
}

/** The measured choices for `adapter`, if the file has an entry for it. */
export function choicesFor(
  file: TuningFile,
  adapter: TunedAdapter,
): Readonly<Record<string, KernelChoice>> | undefined {
  return file.entries.find((e) => sameAdapter(e.adapter, adapter))?.choices;
}

/** `file` (or a new one) with `entry` merged in: its choices over the same adapter's older ones. */
export function mergeTuning(file: TuningFile | undefined, entry: TuningEntry): TuningFile {
  const entries = [...(file?.entries ?? [])];
  const at = entries.findIndex((e) => sameAdapter(e.adapter, entry.adapter));
  if (at < 0) entries.push(entry);
  else entries[at] = { ...entry, choices: { ...entries[at]!.choices, ...entry.choices } };
  return { format: tuningFormat, version: tuningVersion, entries };
}
