// The generated module (`csnc compile --emit module`): used on its own, as a user would, it
// reproduces the PyTorch fixtures under every naming scheme, refuses clips of the wrong size,
// loads twice, takes a backend, and finds `webgpu` in the importing app (or says where to put it).
import { execFile } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { readSafetensors } from "../runtime/safetensors.js";
import { fixturesDir, modelCases } from "./fixtures.js";
import { relL2 } from "./gpu.js";
import { emitFixtureModule, run } from "./helpers.js";

// Outside the repository, whose node_modules would otherwise resolve `webgpu` for the module.
const out = mkdtempSync(path.join(tmpdir(), "csnc-module-"));
const repo = path.resolve(import.meta.dirname, "..");
const models = path.join(repo, "models");
const ckpt = (f: string) => path.join(fixturesDir, "checkpoints", f);

interface LoadOptions {
  weights?: string | Uint8Array;
  randomWeights?: boolean;
  seed?: number;
  naming?: string;
  eps?: number;
  backend?: string;
}
interface Loaded {
  info: { adapter?: string; backend?: string; naming?: string; bnEps?: number };
  run(clip: Float32Array): Promise<{
    logits: Float32Array;
    probabilities: Float32Array;
    top: { class: number; probability: number }[][];
  }>;
  runMany(clips: Float32Array[]): Promise<{ logits: Float32Array }[]>;
  destroy(): void;
}
interface GeneratedModule {
  info: { model: string; input: number[]; classes: number; params: number; macs: number };
  load(o: LoadOptions): Promise<Loaded>;
}

type Case = ReturnType<typeof modelCases>[number];

const emitted = new Map<string, Promise<GeneratedModule>>();

/** Compiles the fixture's model into a module (once per name) and imports it. */
function emit(c: Case, name = c.name, extra: string[] = []): Promise<GeneratedModule> {
  if (!emitted.has(name)) emitted.set(name, compileModule(c, name, extra));
  return emitted.get(name)!;
}

async function compileModule(c: Case, name: string, extra: string[]): Promise<GeneratedModule> {
  const dir = path.join(out, name);
  mkdirSync(dir, { recursive: true });
  const r = await emitFixtureModule(c, dir, extra);
  expect(r.err).toBe("");
  expect(r.code).toBe(0);
  expect(readFileSync(path.join(dir, "index.d.ts"), "utf8")).toContain(
    "export declare function load(options: LoadOptions): Promise<LoadedModel>;",
  );
  const code = readFileSync(path.join(dir, "index.js"), "utf8");
  expect(code).not.toMatch(/\beval\(|new Function\(/);
  // No compiler inside: only the pure contracts the runtime shares with it by design (the error
  // catalog, the plan, the activation geometry, the storage formats and their half conversions,
  // the weight layouts and their packing, the adapter classes).
  const compilerModules = [...code.matchAll(/^\/\/ (grammar\/\S+|compiler\/\S+)$/gm)].map(
    (m) => m[1],
  );
  const shared =
    /^(grammar\/codes|compiler\/(plan|kernels\/(common|format|halves|limits|texture|weights|tuning)))\.ts$/;
  // The bundle names its modules in comments: the check reads them, so they must be there.
  expect(compilerModules).toContain("compiler/plan.ts");
  expect(compilerModules.filter((m) => !shared.test(m!))).toEqual([]);
  return (await import(pathToFileURL(path.join(dir, "index.js")).href)) as GeneratedModule;
}

/** Loads, runs the fixture's input, destroys; returns the logits and the info. */
async function logitsOf(mod: GeneratedModule, c: Case, o: LoadOptions) {
  const model = await mod.load(o);
  try {
    return { logits: (await model.run(c.input.data!)).logits, info: model.info };
  } finally {
    model.destroy();
  }
}

const expectedLogits = (file: string) =>
  readSafetensors(readFileSync(file), file).tensors.get("logits")!.data!;

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
      // Pipelined, each clip's own result.
      const many = await model.runMany([c.input.data!, c.input.data!]);
      for (const r of many) expect(relL2(r.logits, c.logits.data!)).toBeLessThan(1e-4);
      expect(model.info.adapter).toBeTruthy();
      model.destroy();
    });
  }

  it("compiled with --precision f16-storage: halves inside, logits within 1e-2", async () => {
    const c = modelCases()[0]!;
    const mod = await emit(c, `${c.name}-f16`, ["--precision", "f16-storage"]);
    const model = await mod.load({
      weights: path.join(fixturesDir, "models", c.name, "weights.safetensors"),
      naming: "vmz",
    });
    try {
      const result = await model.run(c.input.data!);
      const error = relL2(result.logits, c.logits.data!);
      expect(error).toBeLessThan(1e-2);
      expect(error).toBeGreaterThan(1e-6); // really rounded to halves
    } finally {
      model.destroy();
    }
  });

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

  it("accepts every naming of csnc run, detected or given, with the scheme's BN epsilon", async () => {
    const c = modelCases()[0]!; // ir-csn-50-w8
    const mod = await emit(c);
    const csncNames = path.join(out, "ir-csn-50-w8.csnc.safetensors");
    const r = await run(
      "import",
      path.join(fixturesDir, "models", c.name, "weights.safetensors"),
      "--model",
      path.join(models, c.model),
      "--set",
      "width=8",
      "--set",
      "classes=10",
      "-o",
      csncNames,
    );
    expect(r.code).toBe(0);
    const pytorchvideo = expectedLogits(ckpt("pytorchvideo-ir-csn-50-w8.expected.safetensors"));
    const cases: [string, string, Float32Array, number][] = [
      ["csnc", csncNames, c.logits.data!, 1e-3],
      [
        "vmz",
        path.join(fixturesDir, "models", c.name, "weights.safetensors"),
        c.logits.data!,
        1e-3,
      ],
      ["mmaction2", ckpt("mmaction2-ir-csn-50-w8.pth"), c.logits.data!, 1e-3],
      ["pytorchvideo", ckpt("pytorchvideo-ir-csn-50-w8.pyth"), pytorchvideo, 1e-5],
    ];
    for (const [naming, weights, expected, eps] of cases) {
      for (const given of [naming, "auto"]) {
        const { logits, info } = await logitsOf(mod, c, { weights, naming: given });
        expect(relL2(logits, expected), `${naming} as ${given}`).toBeLessThan(1e-4);
        expect(info).toMatchObject({ naming, bnEps: eps });
      }
    }
    // An explicit eps wins over the scheme's: PyTorchVideo's tensors are ir-csn-50-w8's.
    const forced = await logitsOf(mod, c, { weights: cases[3]![1], eps: 1e-3 });
    expect(relL2(forced.logits, c.logits.data!)).toBeLessThan(1e-4);
    await expect(mod.load({ weights: csncNames, naming: "caffe" })).rejects.toThrow(
      /naming must be one of auto, csnc, vmz, mmaction2, pytorchvideo/,
    );
    await expect(mod.load({ weights: cases[1]![1], naming: "csnc" })).rejects.toThrow(
      /missing tensor stem\.conv\.weight[\s\S]*hint: these look like VMZ names: add load\(\{ naming: "vmz" \}\)/,
    );
  });

  it("keeps an eps set at compile time, as csnc run keeps --set eps", async () => {
    const c = modelCases()[0]!;
    const mod = await emit(c, "ir-csn-50-w8-eps", ["--set", "eps=1e-3"]);
    const a = await logitsOf(mod, c, { weights: ckpt("pytorchvideo-ir-csn-50-w8.pyth") });
    expect(a.info.bnEps).toBe(1e-5); // 1e-3 is the declared default: nothing was changed
    const moved = await emit(c, "ir-csn-50-w8-eps2", ["--set", "eps=2e-3"]);
    const b = await logitsOf(moved, c, { weights: ckpt("pytorchvideo-ir-csn-50-w8.pyth") });
    expect(b.info.bnEps).toBe(2e-3);
  });

  it("takes a backend as csnc run --backend does, and reports the adapter", async () => {
    const c = modelCases()[0]!;
    const mod = await emit(c);
    const weights = path.join(fixturesDir, "models", c.name, "weights.safetensors");
    for (const [backend, adapter] of [
      ["opengles", /llvmpipe/i],
      ["swiftshader", /swiftshader/i],
    ] as const) {
      const { logits, info } = await logitsOf(mod, c, { weights, backend });
      expect(info.backend).toBe(backend);
      expect(info.adapter).toMatch(adapter);
      expect(relL2(logits, c.logits.data!)).toBeLessThan(1e-4);
    }
    // auto: a real GPU first, else llvmpipe (faster on the CPU than SwiftShader).
    const auto = await logitsOf(mod, c, { weights });
    expect(["vulkan", "opengles"]).toContain(auto.info.backend);
    await expect(mod.load({ weights, backend: "metal" })).rejects.toThrow(
      /backend must be one of auto, gpu, vulkan, swiftshader, opengles/,
    );
  });

  it("runs on random weights: those of csnc weights random and csnc run --seed", async () => {
    const c = modelCases()[0]!;
    const mod = await emit(c);
    const file = path.join(out, "random-seed3.safetensors");
    const r = await run(
      "weights",
      "random",
      path.join(models, c.model),
      "--set",
      "width=8",
      "--set",
      "classes=10",
      "--seed",
      "3",
      "-o",
      file,
    );
    expect(r.code).toBe(0);
    const a = await logitsOf(mod, c, { randomWeights: true, seed: 3 });
    const b = await logitsOf(mod, c, { weights: file });
    expect(relL2(a.logits, b.logits)).toBe(0);
    expect(a.logits.every(Number.isFinite)).toBe(true);
    await expect(mod.load({})).rejects.toThrow(/load needs weights .* or randomWeights: true/);
    // Weights made for other parameters: the message says how to compile for them.
    const wide = await emit(c, "ir-csn-50-w16", ["--set", "width=16"]);
    await expect(wide.load({ weights: file })).rejects.toThrow(
      /expected 16x3x3x7x7[\s\S]*hint: the weights were made for ir-csn-50.csn with other parameters: compile it with --set width=8$/,
    );
  });
});

// `node script` in `cwd`, collecting what it prints.
function node(cwd: string, ...args: string[]) {
  return new Promise<{ code: number; out: string; err: string }>((resolve) => {
    const env = { ...process.env, NODE_PATH: "" };
    execFile(process.execPath, args, { cwd, env, timeout: 50_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr }),
    );
  });
}

describe("generated module: the webgpu package", () => {
  const example = path.join(repo, "examples/node/run-module.mjs");
  const app = (name: string) => {
    const dir = path.join(out, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "package.json"), `{ "name": "${name}", "type": "module" }\n`);
    copyFileSync(example, path.join(dir, "run-module.mjs"));
    return dir;
  };
  const generated = path.join(out, "ir-csn-50-w8");
  const weights = path.join(fixturesDir, "models", "ir-csn-50-w8", "weights.safetensors");

  it("is found in the importing app's node_modules", async () => {
    await emit(modelCases()[0]!);
    const dir = app("app-with-webgpu");
    mkdirSync(path.join(dir, "node_modules"));
    symlinkSync(path.join(repo, "node_modules/webgpu"), path.join(dir, "node_modules/webgpu"));
    const r = await node(dir, "run-module.mjs", generated, weights, "--backend", "opengles");
    expect(r.err).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^ir_csn_50 on opengles \(llvmpipe.*\), vmz weights\nsample 0: /);
  });

  it("without it anywhere: a clear message, no stack; or the app passes it in", async () => {
    await emit(modelCases()[0]!);
    const dir = app("app-without-webgpu");
    const r = await node(dir, "run-module.mjs", generated, "random");
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "error: the generated module needs the 'webgpu' package in Node: run `npm install webgpu` in your app",
    );
    expect(r.err).toContain(dir);
    expect(r.err).not.toMatch(/\n\s+at /);
    const script = path.join(dir, "pass-webgpu.mjs");
    writeFileSync(
      script,
      `const { load } = await import(${JSON.stringify(pathToFileURL(path.join(generated, "index.js")).href)});
const webgpu = await import(${JSON.stringify(pathToFileURL(path.join(repo, "node_modules/webgpu/index.js")).href)});
const model = await load({ randomWeights: true, backend: "opengles", webgpu });
const { top } = await model.run(new Float32Array(2 * 3 * 8 * 32 * 32));
console.log(model.info.backend, top.length);
model.destroy();
`,
    );
    const p = await node(dir, script);
    expect(p.err).not.toMatch(/error/i);
    expect(p.out.trim()).toBe("opengles 2");
  });
});
