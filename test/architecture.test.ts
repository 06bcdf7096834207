// The README's invariants, checked: imports run only down the layers (grammar < compiler <
// runtime < cli < bench and examples), no file imports one that imports it back, the library
// never prints or exits, and source files stay small. eslint.config.js enforces the layer
// order in editors too; this reads every TypeScript source file outside node_modules and dist.
import { readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "..");

/** Layers, lowest first; a file may import its own layer and those below. */
const layers = [["grammar"], ["compiler"], ["runtime"], ["cli"], ["bench", "examples", "editors"]];
const library = new Set(["grammar", "compiler", "runtime"]);

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory())
      return ["node_modules", "dist", ".generated", "fixtures"].includes(e.name) ||
        e.name.startsWith(".")
        ? []
        : sources(rel);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith(".d.ts") ? [rel] : [];
  });
}

const files = sources(".");
const text = new Map(files.map((f) => [f, readFileSync(path.join(root, f), "utf8")]));

/** The relative modules `file` imports or re-exports (static and dynamic), as source paths. */
function imports(file: string): string[] {
  const found: string[] = [];
  const specifier =
    /(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*["']([^"']+)["']|(?:^|\n)\s*import\s*["']([^"']+)["']|\bimport\(\s*(?:\/\*.*?\*\/\s*)?["']([^"']+)["']\s*\)/g;
  for (const m of text.get(file)!.matchAll(specifier)) {
    const spec = m[1] ?? m[2] ?? m[3]!;
    if (!spec.startsWith(".")) continue;
    found.push(path.normalize(path.join(path.dirname(file), spec)).replace(/\.js$/, ".ts"));
  }
  return found;
}

const layerOf = (file: string) => {
  const top = file.split(path.sep)[0]!;
  const i = layers.findIndex((l) => l.includes(top));
  return i < 0 ? undefined : i;
};

describe("architecture", () => {
  it("reads the source tree", () => {
    expect(files).toContain(path.join("cli", "main.ts"));
    expect(imports(path.join("cli", "main.ts"))).toContain(path.join("cli", "check.ts"));
  });

  it("imports run only down the layers: grammar < compiler < runtime < cli < bench, examples", () => {
    const upward: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      if (from === undefined) continue; // tests and config sit above everything
      for (const target of imports(file)) {
        const to = layerOf(target);
        if (to === undefined || to > from) upward.push(`${file} imports ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it("no import cycles", () => {
    const graph = new Map(files.map((f) => [f, imports(f).filter((t) => text.has(t))]));
    const state = new Map<string, "open" | "done">();
    const cycles: string[] = [];
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, "open");
      stack.push(f);
      for (const t of graph.get(f)!) {
        if (state.get(t) === "open")
          cycles.push([...stack.slice(stack.indexOf(t)), t].join(" -> "));
        else if (!state.has(t)) visit(t);
      }
      stack.pop();
      state.set(f, "done");
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it("the library never prints and never exits: only cli/ talks to the process", () => {
    const talkers = files.filter(
      (f) =>
        library.has(f.split(path.sep)[0]!) &&
        !f.endsWith(".test.ts") &&
        /\bconsole\.|process\.(stdout|stderr)\b|process\.exit\b/.test(text.get(f)!),
    );
    expect(talkers).toEqual([]);
  });

  it("no source file outside test/ has more than 400 lines", () => {
    const long = files
      .filter((f) => !f.startsWith(`test${path.sep}`))
      .map((f) => ({ f, lines: text.get(f)!.split("\n").length - 1 }))
      .filter(({ lines }) => lines > 400)
      .map(({ f, lines }) => `${f}: ${lines} lines`);
    expect(long).toEqual([]);
  });
});
