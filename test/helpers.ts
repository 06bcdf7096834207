// Shared test helpers: an in-memory source host and one `check` entry point, so that API
// changes touch one place.
import * as path from "node:path";
import { main } from "../cli/main.js";
import {
  checkFile,
  type CheckOptions,
  type CheckResult,
  type Graph,
  type Value,
} from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import type { SourceHost } from "../compiler/source.js";
import { formatDiagnostic } from "../grammar/index.js";

export function memoryHost(files: Record<string, string>): SourceHost {
  const norm = (p: string) => {
    const out: string[] = [];
    for (const part of p.split("/")) {
      if (part === "..") out.pop();
      else if (part !== "." && part !== "") out.push(part);
    }
    return "/" + out.join("/");
  };
  return {
    read: (file) => files[norm(file)],
    resolve: (from, spec) => norm(from.slice(0, from.lastIndexOf("/")) + "/" + spec),
    inside: (root, file) => norm(file).startsWith(norm(root) + "/"),
    display: (file) =>
      norm(file).startsWith("/proj/") ? norm(file).slice("/proj/".length) : norm(file),
  };
}

/** Checks `main` (and any other files) held in memory under /proj. */
export function checkSource(
  main: string,
  options: CheckOptions = {},
  others: Record<string, string> = {},
): CheckResult {
  const files: Record<string, string> = { "/proj/main.csn": main };
  for (const [name, text] of Object.entries(others)) files[`/proj/${name}`] = text;
  return checkFile("/proj/main.csn", "/proj", memoryHost(files), options);
}

/** A model of models/ (`name`, e.g. "ir-csn-50.csn") with integer parameters set, checked. */
export function shippedModel(
  name: string,
  set: Readonly<Record<string, number>>,
  input: readonly number[],
  batch: number,
): Graph {
  const file = path.resolve(import.meta.dirname, "../models", name);
  const values = Object.entries(set).map(([k, v]): [string, Value] => [
    k,
    { type: "int", value: v },
  ]);
  return checkFile(file, projectRoot(file), nodeHost, {
    set: new Map(values),
    input: [...input] as [number, number, number, number],
    batch,
  }).graphs[0]!;
}

/** The formatted diagnostics of a result, one string. */
export function rendered(r: CheckResult): string {
  return r.diagnostics.map((d) => formatDiagnostic(d, r.sources)).join("\n");
}

/** Runs the CLI in-process and collects what it prints. */
export async function run(...argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, {
    out: (t) => (out += t + "\n"),
    err: (t) => (err += t + "\n"),
    exitCode: () => {},
  });
  return { code, out, err };
}

/** `csnc compile --emit module` of a fixture's model at its input's shape, into `dir`. */
export function emitFixtureModule(
  c: { model: string; set: Readonly<Record<string, number>>; input: { shape: readonly number[] } },
  dir: string,
  extra: string[] = [],
) {
  const [n, ...chw] = c.input.shape;
  const sets = Object.entries(c.set).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
  const file = path.resolve(import.meta.dirname, "../models", c.model);
  const shape = ["--input", chw.join("x"), "--batch", String(n)];
  return run("compile", file, ...sets, ...extra, ...shape, "--emit", "module", "-o", dir);
}
