// Lowering, fusion and planning: structure, dispatch counts, memory, kernels, limits.
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { compileGraph } from "../compiler/compile.js";
import { checkFile, type Graph } from "../compiler/index.js";
import { verify } from "../compiler/inference.js";
import type { KernelChoice } from "../compiler/kernels/choice.js";
import { compatLimits } from "../compiler/kernels/common.js";
import { stepKey } from "../compiler/kernels/select.js";
import { defaultTuning, type Tuning } from "../compiler/kernels/tuning.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { lower } from "../compiler/passes/index.js";
import { PlanError } from "../compiler/plan.js";
import { checkSource, run } from "./helpers.js";

const models = path.resolve(import.meta.dirname, "../models");
const big = { ...compatLimits, maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 1 << 30 };

function graph(
  model: string,
  input?: [number, number, number, number],
  set: Record<string, number> = {},
  batch = 1,
): Graph {
  const file = path.join(models, model);
  const s = new Map(Object.entries(set).map(([k, v]) => [k, { type: "int" as const, value: v }]));
  const r = checkFile(file, projectRoot(file), nodeHost, { input, set: s, batch });
  expect(r.diagnostics).toEqual([]);
  return r.graphs[0]!;
}

describe("passes", () => {
  for (const model of [
    "ir-csn-50.csn",
    "ip-csn-26.csn",
    "resnet3d-50.csn",
    "variants/simple-g.csn",
    "variants/bottleneck-dg.csn",
  ]) {
    it(`${model}: every pass keeps the graph well-formed and fuses every BN, ReLU and add`, () => {
      const seen: string[] = [];
      const g = lower(graph(model, [3, 4, 32, 32]), (pass, ig) => {
        seen.push(pass);
        expect(verify(ig), pass).toEqual([]);
      });
      expect(seen).toEqual([
        "from-graph",
        "fold-bn",
        "fuse-relu",
        "fuse-residual",
        "fuse-residual-relu",
        "fuse-add-relu",
      ]);
      const kinds = new Set(g.nodes.map((n) => n.op.kind));
      for (const gone of ["bn", "relu", "add"]) expect(kinds.has(gone as never), gone).toBe(false);
    });
  }

  it("fuses the residual add and its ReLU into the block's last conv, after the shortcut", () => {
    const g = lower(graph("ir-csn-50.csn", [3, 4, 32, 32]));
    const convC = g.nodes.find((n) => n.path === "res3.0.conv_c")!;
    const shortcut = g.nodes.find((n) => n.path === "res3.0.shortcut.conv")!;
    expect(convC.op).toMatchObject({
      kind: "conv",
      residual: true,
      reluAfterAdd: true,
      bn: { path: "res3.0.bn_c" },
    });
    expect(convC.inputs[1]).toBe(shortcut.id);
    expect(g.nodes.indexOf(convC)).toBeGreaterThan(g.nodes.indexOf(shortcut));
    expect(convC.layers).toEqual(["res3.0.conv_c", "res3.0.bn_c", "res3.0.add", "res3.0.relu"]);
  });
});

describe("plans", () => {
  it("ir-CSN-152 at 1x3x32x224x224: at most 160 dispatches, activations within 1.2x of the lower bound", () => {
    const plan = compileGraph(graph("ir-csn-152.csn", [3, 32, 224, 224]), big);
    expect(plan.dispatches.length).toBeLessThanOrEqual(160);
    expect(plan.memory.activationBytes).toBeLessThanOrEqual(1.2 * plan.memory.lowerBoundBytes);
    // No two tensors that are live at once share a buffer.
    for (const a of plan.tensors)
      for (const b of plan.tensors) {
        if (a.id < b.id && a.buffer === b.buffer)
          expect(a.lastUse < b.def || b.lastUse < a.def, `${a.path} / ${b.path}`).toBe(true);
      }
    expect(plan.memory.weightBytes).toBe(4 * (29552144 + 151424 / 2));
  });

  it("names the layer and the fix when a tensor exceeds the device's buffers", () => {
    const twoClips = graph("ir-csn-152.csn", [3, 32, 224, 224], {}, 2);
    expect(() => compileGraph(twoClips, compatLimits)).toThrow(PlanError);
    expect(() => compileGraph(twoClips, compatLimits)).toThrow(
      /layer stem\.conv produces 2x64x32x112x112 \(196\.0 MiB\).*--input or --batch/,
    );
  });

  it("plans without the frames kernel where only it would not fit the grid", () => {
    // A depthwise tile needs fewer invocations than the clip has pixels: a grid of 2 x 2
    // workgroups holds the conv but not the frames kernel (one invocation a pixel, or a u32).
    const g = checkSource("model m() { input 3x7x9x7  dwconv(3x3x3) avgpool fc(4) }");
    expect(g.diagnostics).toEqual([]);
    const limits = { ...compatLimits, maxComputeWorkgroupsPerDimension: 2 };
    for (const precision of ["f32", "f16-storage"] as const) {
      const plan = compileGraph(
        g.graphs[0]!,
        limits,
        { depthwiseTile: { th: 7, tw: 7 } },
        { precision },
      );
      expect(plan.input.frames).toBeUndefined();
    }
  });

  it("keeps every kernel within compatibility-mode limits", () => {
    const plan = compileGraph(graph("ip-csn-50.csn", [3, 8, 64, 64]), compatLimits);
    for (const d of plan.dispatches) {
      expect(d.bindings.length).toBeLessThanOrEqual(compatLimits.maxStorageBuffersPerShaderStage);
      expect(Math.max(...d.workgroups)).toBeLessThanOrEqual(
        compatLimits.maxComputeWorkgroupsPerDimension,
      );
    }
    for (const wgsl of plan.shaders) {
      expect(wgsl).toMatch(/^\/\/ [\w.-]+: /);
      expect(wgsl).toContain("@workgroup_size(64)");
      expect(wgsl).not.toContain("var<workgroup>");
    }
  });
});

describe("csnc compile", () => {
  it("writes one WGSL file per kernel, the plan and a summary", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "csnc-compile-"));
    const r = await run("compile", path.join(models, "ir-csn-152.csn"), "-o", dir);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/159 dispatches/);
    expect(r.out).toMatch(/lower bound/);
    const plan = JSON.parse(readFileSync(path.join(dir, "plan.json"), "utf8"));
    expect(plan.dispatches).toHaveLength(159);
    expect(plan.dispatches[0]).toMatchObject({
      path: "stem.conv",
      layers: ["stem.conv", "stem.bn", "stem.relu"],
      workgroups: expect.any(Array),
    });
    expect(readdirSync(path.join(dir, "kernels")).length).toBe(plan.shaderFiles.length);
    // Compiled again into the same folder: only the new plan's kernels, and a user's file kept.
    writeFileSync(path.join(dir, "kernels", "notes.txt"), "mine");
    const json = JSON.parse(
      (await run("compile", path.join(models, "ir-csn-50.csn"), "-o", dir, "--json")).out,
    );
    expect(json.dispatches).toBeLessThan(60);
    const again = JSON.parse(readFileSync(path.join(dir, "plan.json"), "utf8"));
    expect(readdirSync(path.join(dir, "kernels")).sort()).toEqual(
      [...again.shaderFiles.map((f: string) => f.slice("kernels/".length)), "notes.txt"].sort(),
    );
  });

  it("exits 1 when the plan cannot fit the device, 2 without -o", async () => {
    const r = await run(
      "compile",
      path.join(models, "ir-csn-152.csn"),
      "-o",
      tmpdir(),
      "--limits",
      "compat",
      "--batch",
      "2",
    );
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/stem\.conv/);
    expect((await run("compile", path.join(models, "ir-csn-152.csn"))).code).toBe(2);
  });
});

describe("measured kernel choices (Tuning.choices, the autotuner's seam)", () => {
  const g = graph("ir-csn-50.csn", [3, 8, 32, 32], { width: 8 });
  const steps = lower(g).nodes;
  const byId = new Map(steps.map((n) => [n.id, n]));
  const keyOf = (path: string) => {
    const n = steps.find((s) => s.path === path)!;
    return stepKey(n, byId.get(n.inputs[0]!));
  };
  const llvmpipe = { ...defaultTuning.llvmpipe, textures: true };
  const kernelAt = (tuning: Tuning, path: string) =>
    compileGraph(g, big, tuning).dispatches.find((d) => d.path === path)!;

  it("uses a measured choice for every step of that shape, and records it", () => {
    const path = "res2.0.conv_c";
    // A tile other than the default one.
    const rows = (kernelAt({}, path).choice as { tile: { rows: number } }).tile.rows === 2 ? 4 : 2;
    const choice = {
      family: "conv-pointwise",
      storage: "buffer",
      tile: { rows, cols: 1 },
    } as const;
    const plan = compileGraph(g, big, { choices: { [keyOf(path)]: choice } });
    const same = plan.dispatches.filter((d) => keyOf(d.path) === keyOf(path));
    expect(same.length).toBeGreaterThan(1); // the other blocks' conv_c share the key
    for (const d of same) expect(d.choice).toEqual(choice);
    expect(kernelAt({}, path).choice).not.toEqual(choice);
  });

  it("falls back to the default for a choice that cannot run the step", () => {
    const stem = "stem.conv";
    const fallback = kernelAt(llvmpipe, stem);
    const wrong: KernelChoice[] = [
      // Another family: its weight layout would drop taps.
      { family: "conv-pointwise", storage: "buffer", tile: { rows: 1, cols: 1 } },
      // The clip is a texture for all its readers: a buffer reader cannot read it.
      { family: "conv-direct", storage: "buffer", tile: { tw: 1, cot: 1 } },
      { family: "conv-naive" },
      { family: "pool", storage: "buffer" },
    ];
    for (const choice of wrong)
      expect(kernelAt({ ...llvmpipe, choices: { [keyOf(stem)]: choice } }, stem)).toEqual(fallback);
  });
});
