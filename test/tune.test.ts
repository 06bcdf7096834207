// csnc tune and --tuning: the tuning file's form (corrupt and foreign files), the plan following
// a file's measured choices (and dropping ones the tuner could not have made), and tune, then
// compile, run and profile with its file, end to end on both CPU adapters.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compileGraph } from "../compiler/compile.js";
import { candidateChoices, candidates } from "../compiler/kernels/candidates.js";
import type { KernelChoice } from "../compiler/kernels/choice.js";
import { compatLimits } from "../compiler/kernels/common.js";
import { clipLayout, generate, stepKey } from "../compiler/kernels/select.js";
import { defaultTuning } from "../compiler/kernels/tuning.js";
import { lower } from "../compiler/passes/index.js";
import { withFormats } from "../compiler/plan/formats.js";
import { CsncError } from "../runtime/errors.js";
import { parseTuningFile, type TuningFile } from "../runtime/tune/tuning-file.js";
import { kernelLimits } from "../runtime/device.js";
import { tune } from "../runtime/tune/tuner.js";
import { buildGraph, gpuDevice, relL2 } from "./gpu.js";
import { run } from "./helpers.js";

const work = mkdtempSync(path.join(os.tmpdir(), "csnc-tune-"));
const model = path.join(work, "tiny.csn");
const body = `model tiny {
  input 8 x 2 x 8 x 8
  conv(16, 1x1x1) bn relu
  dwconv(3x3x3) bn relu
  conv(16, 1x1x1) bn relu
  avgpool
  fc(5)
}
`;
writeFileSync(model, body);
const small = ["--input", "8x2x8x8"];
const saved = process.env.CSNC_CACHE_DIR;
beforeAll(() => {
  process.env.CSNC_CACHE_DIR = path.join(work, "cache");
});
afterAll(() => {
  if (saved === undefined) delete process.env.CSNC_CACHE_DIR;
  else process.env.CSNC_CACHE_DIR = saved;
});

const limits = { ...compatLimits, maxTextureDimension2D: 16384 };

describe("the tuning file", () => {
  const ok = { format: "csnc-tuning", version: 1, entries: [] };
  const refused = (text: string) => {
    try {
      parseTuningFile(text, "t.json");
    } catch (e) {
      expect(e).toBeInstanceOf(CsncError);
      return (e as Error).message;
    }
    throw new Error("accepted");
  };

  it("refuses what is not one, naming the file and the problem", () => {
    expect(refused("{")).toMatch(/^t\.json: not a csnc tuning file: invalid JSON/);
    expect(refused("[1]")).toContain(`expected {"format": "csnc-tuning"`);
    expect(refused(JSON.stringify({ ...ok, version: 9 }))).toContain("version 9");
    expect(refused(JSON.stringify({ ...ok, entries: {} }))).toContain(`"entries" must be a list`);
    expect(refused(JSON.stringify({ ...ok, entries: [{ adapter: {} }] }))).toContain(
      `entry 1 needs an "adapter" and "choices"`,
    );
  });

  it("drops a malformed choice with a warning and keeps the rest", () => {
    const adapter = { vendor: "", architecture: "", device: "d", description: "x", backend: "b" };
    const good = { family: "conv-pointwise", storage: "buffer", tile: { rows: 4, cols: 2 } };
    const warnings: string[] = [];
    const file = parseTuningFile(
      JSON.stringify({
        ...ok,
        entries: [
          {
            adapter,
            choices: {
              "[a]": good,
              "[b]": { family: "conv-pointwise", tile: { rows: -1 } },
              "[c]": { family: "x; drop", storage: "buffer" },
              "[d]": "conv-naive",
            },
          },
        ],
      }),
      "t.json",
      (m) => warnings.push(m),
    );
    expect(file.entries[0]!.choices).toEqual({ "[a]": good });
    expect(warnings).toHaveLength(3);
  });

  it("survives hostile files: deep nesting, __proto__ keys, thousands of bad choices", () => {
    const adapter = { vendor: "", architecture: "", device: "d", description: "x", backend: "b" };
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    const nested = `{"format":"csnc-tuning","version":1,"entries":[{"adapter":${JSON.stringify(adapter)},"choices":{"[k]":${deep}}}]}`;
    const warnings: string[] = [];
    expect(
      parseTuningFile(nested, "deep.json", (m) => warnings.push(m)).entries[0]!.choices,
    ).toEqual({});
    const proto = `{"format":"csnc-tuning","version":1,"entries":[{"adapter":${JSON.stringify(adapter)},"choices":{"__proto__":{"family":"conv-naive"}}}]}`;
    const parsed = parseTuningFile(proto, "proto.json", (m) => warnings.push(m));
    expect(Object.getPrototypeOf(parsed.entries[0]!.choices)).toBe(Object.prototype);
    expect(Object.keys(parsed.entries[0]!.choices)).toEqual([]);
    const many = Object.fromEntries([...Array(5000).keys()].map((i) => [`[${i}]`, { family: 1 }]));
    warnings.length = 0;
    parseTuningFile(
      JSON.stringify({ ...ok, entries: [{ adapter, choices: many }] }),
      "many.json",
      (m) => warnings.push(m),
    );
    expect(warnings).toHaveLength(6);
    expect(warnings[5]).toContain("and 4995 more");
  });
});

describe("every choice the tuner can make", () => {
  // A network with every kind of step, on limits with and without subgroups: each candidate's
  // choice, written to a tuning file and read back, is kept as it was (the reader once dropped
  // global-avgpool-reduce's `threads` as malformed).
  it("survives the tuning file's round trip, without a warning", () => {
    const graph = buildGraph(
      "model m() { input 3x4x16x16  conv(8, 3x7x7, stride = 1x2x2, pad = 1x3x3) bn relu maxpool(1x3x3, stride = 1x2x2, pad = 0x1x1) residual { conv(8, 1x1x1) bn relu dwconv bn relu conv(16, 1x1x1) bn } relu conv(16, 3x3x3) avgpool fc(5) softmax }",
    );
    const g = lower(graph);
    const byId = new Map(g.nodes.map((n) => [n.id, n]));
    const choices: Record<string, KernelChoice> = {};
    const families = new Set<string>();
    for (const [i, l] of [limits, { ...limits, subgroups: true }].entries())
      for (const tuning of [{}, defaultTuning.llvmpipe, defaultTuning.swiftshader]) {
        const clip = clipLayout(g, l, tuning);
        for (const n of g.nodes.filter((x) => x.op.kind !== "input"))
          for (const [j, c] of candidateChoices(
            n,
            byId.get(n.inputs[0]!)!,
            l,
            clip,
            tuning,
          ).entries()) {
            choices[`[${i},${n.id},${Object.keys(choices).length},${j}]`] = c;
            families.add(c.family);
          }
      }
    expect(families).toContain("global-avgpool-reduce");
    expect(families.size).toBeGreaterThan(10);
    const adapter = { vendor: "", architecture: "", device: "d", description: "x", backend: "b" };
    const text = JSON.stringify({
      format: "csnc-tuning",
      version: 1,
      entries: [{ adapter, choices }],
    });
    const warnings: string[] = [];
    const read = parseTuningFile(text, "t.json", (m) => warnings.push(m));
    expect(warnings).toEqual([]);
    expect(read.entries[0]!.choices).toEqual(choices);
  });
});

describe("a plan follows the measured choices", () => {
  const graph = buildGraph(body);
  const g = lower(graph);
  const base = defaultTuning.llvmpipe;
  const clip = clipLayout(g, limits, base);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const steps = g.nodes.filter((n) => n.op.kind === "conv");

  it("takes a non-default candidate of every conv where the file has one", () => {
    const choices: Record<string, KernelChoice> = {};
    const wanted = new Map<string, KernelChoice>();
    for (const n of steps) {
      const input = byId.get(n.inputs[0]!)!;
      const all = candidateChoices(n, input, limits, clip, base);
      expect(all.length).toBeGreaterThan(1);
      choices[stepKey(n, input)] = all.at(-1)!;
      wanted.set(n.path, all.at(-1)!);
    }
    const plan = compileGraph(graph, limits, { ...base, choices });
    const untuned = compileGraph(graph, limits, base);
    for (const n of steps) {
      const d = plan.dispatches.find((x) => x.layers.includes(n.path))!;
      expect(d.choice).toEqual(wanted.get(n.path));
      expect(d.tuned).toBe(true);
      expect(untuned.dispatches.find((x) => x.layers.includes(n.path))!.choice).not.toEqual(
        wanted.get(n.path),
      );
    }
  });

  it("drops a choice the tuner could not have made, and keys of other shapes", () => {
    const n = steps[0]!;
    const input = byId.get(n.inputs[0]!)!;
    const choices: Record<string, KernelChoice> = {
      [stepKey(n, input)]: {
        family: "conv-pointwise",
        storage: "texture",
        tile: { rows: 3, cols: 3 },
      },
      "[another model's step]": { family: "conv-naive" },
    };
    const plan = compileGraph(graph, limits, { ...base, choices });
    expect(plan.dispatches).toEqual(compileGraph(graph, limits, base).dispatches);
  });
});

describe.each(["opengles", "swiftshader"])("csnc tune on %s", (backend) => {
  const file = path.join(work, `tuning-${backend}.json`);
  let tuned: TuningFile;

  it("measures every step shape within its budget and writes a file for this adapter", async () => {
    const r = await run(
      "tune",
      model,
      ...small,
      "--backend",
      backend,
      "--budget",
      "20",
      "-o",
      file,
      "--json",
    );
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    // A candidate that takes longer than the slowest before it (a cold shader cache) may end past it.
    expect(report.elapsedMs).toBeLessThan(3_000 + 20_000);
    expect(report.steps.length).toBeGreaterThanOrEqual(3);
    for (const s of report.steps) expect(s.best.ms).toBeLessThanOrEqual(s.defaultMs);
    tuned = parseTuningFile(readFileSync(file, "utf8"), file);
    expect(tuned.entries).toHaveLength(1);
    expect(tuned.entries[0]!.adapter.backend).toBe(
      backend === "opengles" ? "opengles" : "swiftshader",
    );
    // The cache records the same entry.
    const cache = parseTuningFile(
      readFileSync(path.join(work, "cache", "tuning.json"), "utf8"),
      "cache",
    );
    expect(cache.entries.map((e) => e.adapter)).toContainEqual(tuned.entries[0]!.adapter);
  });

  it("run, profile and compile follow a file's choices, with the same numbers", async () => {
    // A non-default variant for the first 1x1x1 conv, as a tuning file might record it.
    const graph = buildGraph(body);
    const g = lower(graph);
    const entry = tuned.entries[0]!;
    const conv = g.nodes.find((n) => n.op.kind === "conv")!;
    const input = g.nodes.find((n) => n.id === conv.inputs[0])!;
    const base = backend === "opengles" ? defaultTuning.llvmpipe : defaultTuning.swiftshader;
    const plan = compileGraph(graph, limits, base);
    const clip = plan.input.layout;
    const choice = candidateChoices(conv, input, limits, clip, base).find(
      // The default's storage: a storage-buffer conv compiles for seconds on llvmpipe.
      (c) =>
        c.family === "conv-pointwise" &&
        c.storage === (plan.dispatches[0]!.choice as { storage: string }).storage &&
        JSON.stringify(c) !== JSON.stringify(plan.dispatches[0]!.choice),
    )!;
    const forced = path.join(work, `forced-${backend}.json`);
    const file: TuningFile = {
      ...tuned,
      entries: [{ ...entry, choices: { [stepKey(conv, input)]: choice } }],
    };
    writeFileSync(forced, JSON.stringify(file));

    const plain = await run(
      "run",
      model,
      "--shape",
      "1x8x2x8x8",
      "--backend",
      backend,
      "--tuning",
      "none",
      "--json",
    );
    const withFile = await run(
      "run",
      model,
      "--shape",
      "1x8x2x8x8",
      "--backend",
      backend,
      "--tuning",
      forced,
      "--json",
    );
    expect(withFile.code, withFile.err).toBe(0);
    expect(withFile.err).toMatch(
      new RegExp(
        `1 of \\d+ dispatches take variants measured on this adapter \\(csnc tune\\), from ${forced}`,
      ),
    );
    expect(
      relL2(JSON.parse(withFile.out).logits.flat(), JSON.parse(plain.out).logits.flat()),
    ).toBeLessThan(1e-5);

    const profile = await run(
      "profile",
      model,
      ...small,
      "--backend",
      backend,
      "--tuning",
      forced,
      "--iterations",
      "1",
      "--warmup",
      "0",
      "--json",
    );
    expect(profile.code, profile.err).toBe(0);
    const tile = (choice as { tile: { rows: number; cols: number } }).tile;
    expect(JSON.parse(profile.out).tunedDispatches).toBe(1);
    expect(JSON.parse(profile.out).kernels[0].kernel).toMatch(
      new RegExp(`-${tile.rows}x${tile.cols}$`),
    );

    const out = path.join(work, `plan-${backend}`);
    const compiled = await run(
      "compile",
      model,
      ...small,
      "--limits",
      "compat",
      "--tuning",
      forced,
      "-o",
      out,
      "--json",
    );
    expect(compiled.code, compiled.err).toBe(0);
    expect(JSON.parse(compiled.out).tuning.measuredDispatches).toBe(1);
    const planJson = JSON.parse(readFileSync(path.join(out, "plan.json"), "utf8"));
    expect(planJson.dispatches[0].choice).toEqual(choice);
    const mod = path.join(work, `module-${backend}`);
    const emitted = await run(
      "compile",
      model,
      ...small,
      "--tuning",
      forced,
      "--emit",
      "module",
      "-o",
      mod,
    );
    expect(emitted.code, emitted.err).toBe(0);
    expect(emitted.out).toContain("1 of them as measured on");
  });

  it("tunes f16 storage as it runs: its choices serve --precision f16-storage, not float32", async () => {
    const halves = path.join(work, `tuning-${backend}-f16.json`);
    const r = await run(
      "tune",
      model,
      ...small,
      "--backend",
      backend,
      "--budget",
      "10",
      "--precision",
      "f16-storage",
      "--no-cache",
      "-o",
      halves,
      "--json",
    );
    expect(r.code, r.err).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.steps.length).toBeGreaterThanOrEqual(3);
    for (const s of report.steps) expect(s.best.ms).toBeLessThanOrEqual(s.defaultMs);
    // Keyed with the steps' storage formats: a float32 plan never takes them.
    const halvesFile = parseTuningFile(readFileSync(halves, "utf8"), halves);
    const entry = halvesFile.entries[0]!;
    for (const key of Object.keys(entry.choices)) expect(key).toContain('"f16"');

    // A non-default variant of the first conv, forced as in the float32 test above.
    const graph = buildGraph(body);
    const base = backend === "opengles" ? defaultTuning.llvmpipe : defaultTuning.swiftshader;
    const plan = compileGraph(graph, limits, base, { precision: "f16-storage" });
    const g = withFormats(lower(graph), "f16-storage", false);
    const conv = g.nodes.find((n) => n.op.kind === "conv")!;
    const input = g.nodes.find((n) => n.id === conv.inputs[0])!;
    const choice = candidateChoices(conv, input, limits, plan.input.layout, base).find(
      (c) =>
        c.family === "conv-pointwise" &&
        c.storage === (plan.dispatches[0]!.choice as { storage: string }).storage &&
        JSON.stringify(c) !== JSON.stringify(plan.dispatches[0]!.choice),
    )!;
    const forced = path.join(work, `forced-${backend}-f16.json`);
    writeFileSync(
      forced,
      JSON.stringify({
        ...halvesFile,
        entries: [{ ...entry, choices: { [stepKey(conv, input)]: choice } }],
      }),
    );
    const profile = (precision: string, tuning: string) =>
      run(
        "profile",
        model,
        ...small,
        "--backend",
        backend,
        "--precision",
        precision,
        "--tuning",
        tuning,
        "--iterations",
        "1",
        "--warmup",
        "0",
        "--json",
      );
    const f16 = await profile("f16-storage", forced);
    expect(f16.code, f16.err).toBe(0);
    expect(JSON.parse(f16.out).tunedDispatches).toBe(1);
    expect(JSON.parse(f16.out).precision).toBe("f16-storage");
    const f32 = await profile("f32", forced);
    expect(f32.code, f32.err).toBe(0);
    expect(JSON.parse(f32.out).tunedDispatches).toBe(0);
  });
});

describe("bad tuning files through the CLI", () => {
  it("a corrupt --tuning file is an error naming it; a corrupt cache only a warning", async () => {
    const bad = path.join(work, "bad.json");
    writeFileSync(bad, "{ not json");
    const r = await run(
      "run",
      model,
      "--shape",
      "1x8x2x8x8",
      "--backend",
      "opengles",
      "--tuning",
      bad,
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${bad}: not a csnc tuning file: invalid JSON`);
    expect(r.err).toContain("[CSN4201]");
    const missing = await run("run", model, "--tuning", path.join(work, "none.json"));
    expect(missing.code).toBe(1);
    expect(missing.err).toContain("cannot read tuning");
    writeFileSync(path.join(work, "cache", "tuning.json"), "garbage");
    const cached = await run("run", model, "--shape", "1x8x2x8x8", "--backend", "opengles");
    expect(cached.code, cached.err).toBe(0);
    expect(cached.err).toMatch(
      /warning: .*tuning\.json: not a csnc tuning file.*default kernel choices/,
    );
  });

  it("a cache folder that cannot be made (under /proc) is a warning, not a hang", async () => {
    process.env.CSNC_CACHE_DIR = "/proc/csnc-no-such-folder/cache";
    try {
      const r = await run("tune", model, ...small, "--backend", "opengles", "--budget", "1");
      expect(r.code, r.err).toBe(0);
      expect(r.err).toMatch(/warning: could not update the tuning cache \/proc\/csnc-no-such/);
    } finally {
      process.env.CSNC_CACHE_DIR = path.join(work, "cache");
    }
  });

  it("a session on the caller's own device refuses a tuning file it cannot match", async () => {
    const { createSession } = await import("../runtime/index.js");
    const { device } = await gpuDevice("opengles");
    const file = parseTuningFile(
      JSON.stringify({ format: "csnc-tuning", version: 1, entries: [] }),
      "t",
    );
    await expect(
      createSession({
        graph: buildGraph(body),
        weights: { random: 1 },
        device,
        tuningFile: { file, source: "t" },
      }),
    ).rejects.toThrow(/tuningFile applies to the adapter csnc acquires/);
  });

  it("--budget outside its range is a usage error", async () => {
    const r = await run("tune", model, "--budget", "0");
    expect(r.code).toBe(2);
    expect(r.err).toContain("--budget must be an integer from 1 to 86400");
  });
});

describe("the tuner", () => {
  it("never chooses a candidate whose output differs from the default's", async () => {
    const graph = buildGraph(
      `model m { input 8 x 2 x 6 x 6  conv(8, 1x1x1) relu  avgpool  fc(3) }`,
    );
    const g = lower(graph);
    const { device } = await gpuDevice("opengles");
    const limits = kernelLimits(device);
    const base = defaultTuning.llvmpipe;
    // The wrong candidate: the same conv without its ReLU, which also runs faster.
    const wrong: typeof candidates = (node, input, l, clip, t) => {
      const right = candidates(node, input, l, clip, t);
      if (node.op.kind !== "conv") return right;
      const bare = { ...node, op: { ...node.op, relu: false } };
      const kernel = generate(bare, input, l, right[0]!.choice, clip);
      return [
        right[0]!,
        { choice: { ...right[0]!.choice, tile: { rows: 1, cols: 1 } } as KernelChoice, kernel },
      ];
    };
    const r = await tune({
      graph: g,
      device,
      limits,
      tuning: base,
      budgetMs: 60_000,
      cpu: true,
      candidatesOf: wrong,
    });
    const conv = r.steps.find((s) => s.path === "conv")!;
    expect(conv.tried).toBe(2);
    expect(conv.rejected).toHaveLength(1);
    expect(conv.rejected[0]!.reason).toMatch(/its output differs from the default's \(relative L2/);
    // The conv keeps its default (other steps, e.g. the global pool, may take a measured one).
    expect(r.choices[conv.key]).toBeUndefined();
  });
});
