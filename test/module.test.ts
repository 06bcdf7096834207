// The generated module (`csnc compile --emit module`): used on its own, as a user would, it
// reproduces the PyTorch fixtures, refuses clips of the wrong size and loads twice.
import { mkdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { fixturesDir, modelCases } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { run } from "./helpers.js";

// Inside the repository, so that the module's `import("webgpu")` resolves as in a user's app.
const out = path.resolve(import.meta.dirname, ".generated");
const models = path.resolve(import.meta.dirname, "../models");

interface GeneratedModule {
  info: { model: string; input: number[]; classes: number; params: number; macs: number };
  load(o: { weights: string | Uint8Array; naming?: string }): Promise<{
    info: { adapter?: string };
    run(clip: Float32Array): Promise<{
      logits: Float32Array;
      probabilities: Float32Array;
      top: { class: number; probability: number }[][];
    }>;
    destroy(): void;
  }>;
}

async function emit(c: ReturnType<typeof modelCases>[number]): Promise<GeneratedModule> {
  const dir = path.join(out, c.name);
  mkdirSync(dir, { recursive: true });
  const [n, ...chw] = c.input.shape;
  const sets = Object.entries(c.set).flatMap(([k, v]) => ["--set", `${k}=${v}`]);
  const r = await run(
    "compile",
    path.join(models, c.model),
    ...sets,
    "--input",
    chw.join("x"),
    "--batch",
    String(n),
    "--emit",
    "module",
    "-o",
    dir,
  );
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect(readFileSync(path.join(dir, "index.d.ts"), "utf8")).toContain(
    "export declare function load(options: LoadOptions): Promise<LoadedModel>;",
  );
  const code = readFileSync(path.join(dir, "index.js"), "utf8");
  expect(code).not.toMatch(/\beval\(|new Function\(|compiler\//);
  return (await import(pathToFileURL(path.join(dir, "index.js")).href)) as GeneratedModule;
}

describe("generated module", () => {
  for (const c of modelCases()) {
    it(`${c.name}: load + run reproduce the fixture logits`, async () => {
      const mod = await emit(c);
      expect(mod.info).toMatchObject({ input: c.input.shape, classes: c.meta.classes });
      const model = await mod.load({
        weights: path.join(fixturesDir, "models", c.name, "weights.safetensors"),
        naming: "vmz",
      });
      const result = await model.run(c.input.data!);
      expect(relL2(result.logits, c.logits.data!)).toBeLessThan(1e-4);
      expect(relL2(result.probabilities, c.probabilities.data!)).toBeLessThan(1e-4);
      expect(result.top).toHaveLength(c.input.shape[0]!);
      expect(model.info.adapter).toBeTruthy();
      model.destroy();
    });
  }

  it("refuses a clip of the wrong size and loads twice from bytes", async () => {
    const c = modelCases()[0]!;
    const mod = await emit(c);
    const bytes = readFileSync(path.join(fixturesDir, "models", c.name, "weights.safetensors"));
    const [a, b] = await Promise.all([
      mod.load({ weights: bytes, naming: "vmz" }),
      mod.load({ weights: new Uint8Array(bytes), naming: "vmz" }),
    ]);
    await expect(a.run(new Float32Array(10))).rejects.toThrow(
      /the clip must be a Float32Array of 2x3x8x32x32/,
    );
    const [ra, rb] = await Promise.all([a.run(c.input.data!), b.run(c.input.data!)]);
    expect(relL2(ra.logits, rb.logits)).toBe(0);
    a.destroy();
    b.destroy();
    await expect(mod.load({ weights: path.join(out, "missing.safetensors") })).rejects.toThrow(
      /cannot read weights/,
    );
  });
});
