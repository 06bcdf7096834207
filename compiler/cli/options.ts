// Options shared by the commands that build a model: --set, --input, --batch, --model.
import { Option } from "commander";
import type { CheckOptions, Value } from "../index.js";

/** A command-line mistake: printed with the usage hint, exit code 2. */
export class UsageError extends Error {}

export interface ModelOptions {
  set: string[];
  input?: string;
  batch?: string;
  model?: string;
  json?: boolean;
}

export const modelOptions = [
  new Option(
    "--set <name=value>",
    "override a model parameter (repeatable), e.g. --set width=32",
  ).argParser((v: string, prev: string[] = []) => [...prev, v]),
  new Option("--input <CxTxHxW>", "override the model's input size, e.g. 3x16x112x112"),
  new Option("--batch <N>", "batch size N (default 1)"),
  new Option("--model <name>", "which model of the file, when it defines several"),
];

/** A parameter value as written after `--set name=`: int, float, bool, dims (3x3x3) or a name. */
export function parseValue(text: string): Value {
  if (/^-?\d+$/.test(text)) return { type: "int", value: Number(text) };
  if (/^-?(\d+\.\d*|\d*\.\d+|\d+)(e[+-]?\d+)?$/i.test(text))
    return { type: "float", value: Number(text) };
  if (text === "true" || text === "false") return { type: "bool", value: text === "true" };
  if (/^\d+(x\d+)+$/.test(text)) return { type: "dims", value: text.split("x").map(Number) };
  if (/^[A-Za-z_]\w*$/.test(text)) return { type: "enum", value: text };
  return { type: "string", value: text };
}

function positiveInt(text: string, what: string): number {
  if (!/^\d+$/.test(text) || Number(text) < 1)
    throw new UsageError(`${what} must be a positive integer, got '${text}'`);
  return Number(text);
}

export function toCheckOptions(o: ModelOptions): CheckOptions {
  const set = new Map<string, Value>();
  for (const s of o.set ?? []) {
    const m = /^([A-Za-z_]\w*)=(.+)$/.exec(s);
    if (!m) throw new UsageError(`--set expects name=value, got '${s}'`);
    set.set(m[1]!, parseValue(m[2]!));
  }
  let input: [number, number, number, number] | undefined;
  if (o.input !== undefined) {
    const parts = o.input.split("x");
    if (parts.length !== 4)
      throw new UsageError(`--input expects C x T x H x W such as 3x16x112x112, got '${o.input}'`);
    input = parts.map((p) => positiveInt(p, "every --input dimension")) as [
      number,
      number,
      number,
      number,
    ];
  }
  const batch = o.batch === undefined ? undefined : positiveInt(o.batch, "--batch");
  return { set, input, batch, model: o.model };
}
