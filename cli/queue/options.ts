// The options every queue command shares (--queue, --name) and bounded integer options.
import { Option, type Command } from "commander";
import { UsageError } from "../options.js";
import { queueEnv } from "./connection.js";

/** Adds --queue URL and --name NAME. The URL is never a default: --help would show a password. */
export function queueOptions(cmd: Command): Command {
  return cmd
    .option(
      "--queue <url>",
      `the Redis holding the queue: redis://[:PASSWORD@]HOST:PORT/DB or rediss:// for TLS (default: $${queueEnv})`,
    )
    .option("--name <name>", "the queue's name (its Redis keys' prefix)", "csnc");
}

/** An integer option's value within [min, max]. */
export function boundedInteger(text: string, option: string, min: number, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(n >= min && n <= max))
    throw new UsageError(
      `${option} must be an integer from ${min} to ${max}, got '${text.slice(0, 40)}'`,
    );
  return n;
}

/** An option taking an integer from `min` to `max` (said in its help). */
export function boundedOption(
  flags: string,
  description: string,
  min: number,
  max: number,
  value: number,
): Option {
  const name = flags.split(" ")[0]!;
  return new Option(flags, `${description} (${min} to ${max})`)
    .argParser((v: string) => boundedInteger(v, name, min, max))
    .default(value);
}
