// The built package as a user's project uses it: imported by name ("csnc", "csnc/browser")
// from a project whose node_modules links csnc, run with node, and type-checked with tsc
// against the package's own declarations. Needs `npm run build` first.
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const repo = path.resolve(import.meta.dirname, "..");
const project = mkdtempSync(path.join(tmpdir(), "csnc-package-"));

function node(...args: string[]) {
  return new Promise<{ code: number; out: string; err: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: project, timeout: 100_000 }, (e, stdout, stderr) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: stdout, err: stderr }),
    );
  });
}

const script = `import { check, compile, createSession, parse, readWeights, stats, writeSafetensors } from "csnc";
import * as browser from "csnc/browser";

const parsed = parse("model m() { input 8x2x4x4 conv(8, 1x1x1) relu avgpool fc(3) }", "m.csn");
const checked = check("model.csn", { batch: 2 });
if (checked.diagnostics.length) throw new Error(checked.diagnostics[0].message);
const graph = checked.graphs[0];
const report = stats(graph);
const plan = compile(graph);
const weights = readWeights(writeSafetensors(new Map()), "empty.safetensors", "csnc");
const session = await createSession({ graph, weights: { random: 1 }, backend: "swiftshader" });
const out = await session.run(new Float32Array(2 * 8 * 2 * 4 * 4));
session.destroy();
console.log(JSON.stringify({
  parsed: parsed.diagnostics.length,
  model: graph.model,
  macs: report.totals.macs,
  dispatches: plan.dispatches.length > 0,
  tensors: weights.tensors.size,
  adapter: session.adapter.backend,
  logits: out.logits.length,
  browser: ["checkFile", "compile", "createSession", "readWeights", "requestBrowserDevice", "stats"].filter((k) => typeof browser[k] !== "function"),
}));
`;

const consumer = `import { check, compile, createSession, type Graph, type NodeSession, type Plan, type StatsReport, stats } from "csnc";
import { createSession as createDeviceSession, type Session, type SessionWeights } from "csnc/browser";

export async function run(file: string, device: GPUDevice): Promise<number> {
  const graph: Graph | undefined = check(file).graphs[0];
  if (!graph) return 0;
  const report: StatsReport = stats(graph, { convention: "fvcore" });
  const plan: Plan = compile(graph);
  const weights: SessionWeights = { random: 1 };
  const own: NodeSession = await createSession({ graph, weights, backend: "auto" });
  own.destroy();
  const session: Session = await createDeviceSession({ plan, weights, device });
  const { logits } = await session.run(new Float32Array(plan.input.shape.reduce((a, b) => a * b, 1)));
  session.destroy();
  return logits.length + report.totals.macs;
}
`;

// A user's project: csnc linked into its node_modules, as npm link or a file: dependency does.
mkdirSync(path.join(project, "node_modules"));
symlinkSync(repo, path.join(project, "node_modules/csnc"));
writeFileSync(path.join(project, "package.json"), '{ "name": "app", "type": "module" }\n');
writeFileSync(
  path.join(project, "model.csn"),
  "model m() {\n  input 8 x 2 x 4 x 4\n  conv(8, 1x1x1)\n  relu\n  avgpool\n  fc(3)\n}\n",
);
writeFileSync(path.join(project, "app.mjs"), script);
writeFileSync(path.join(project, "consumer.ts"), consumer);
writeFileSync(
  path.join(project, "tsconfig.json"),
  JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      module: "NodeNext",
      moduleResolution: "NodeNext",
      lib: ["ES2022", "DOM"],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: [],
    },
    files: ["consumer.ts"],
  }),
);

describe("the built package, imported by name", () => {
  const built = existsSync(path.join(repo, "dist/runtime/index.js"));

  it("is built (npm run build)", () => {
    expect(built).toBe(true);
  });

  it.runIf(built)("runs check, stats, compile and a session from 'csnc' in node", async () => {
    const r = await node("app.mjs");
    expect(r.err).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out.trim().split("\n").at(-1)!)).toEqual({
      parsed: 0,
      model: "m",
      macs: 2 * 8 * 8 * 2 * 4 * 4 + 2 * 8 * 3,
      dispatches: true,
      tensors: 0,
      adapter: "swiftshader",
      logits: 6,
      browser: [],
    });
  });

  it.runIf(built)("type-checks a consumer against the package's declarations", async () => {
    const r = await node(path.join(repo, "node_modules/typescript/bin/tsc"), "-p", project);
    expect(r.out + r.err).toBe("");
    expect(r.code).toBe(0);
  });
});
