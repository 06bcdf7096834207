// The first command a user runs: the fastest CPU adapter, and none of Dawn's native warnings.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { nativeFilter } from "../cli/quiet-native.js";
import { bin, spawnCsnc } from "./csnc-process.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-quiet-"));
const model = path.join(work, "m.csn");
writeFileSync(
  model,
  "model m() {\n  input 16 x 1 x 8 x 8\n  dwconv(3x3x3)\n  avgpool\n  fc(10)\n}\n",
);

describe("native warnings", () => {
  it("drops Dawn's and the loader's lines, keeps everything else, passes progress through", () => {
    const out: string[] = [];
    const f = nativeFilter((t) => out.push(t));
    f.push(
      "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 90 to 16\n",
    );
    f.push("Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.\n - While initializing ");
    f.push(
      "adapter (backend=BackendType::Vulkan)\n    at InitializeImpl (/home/runner/work/x/third_party/dawn/src/dawn/native/vulkan/PhysicalDeviceVk.cpp:257)\n\n",
    );
    f.push("csnc: error: the input has 5 values [CSN4001]\n");
    f.push("\r\x1b[Kprofiling 3/10");
    f.push("\nWarning: any other native warning (csnc never starts a line so)\n");
    f.push("last line without a newline");
    f.end();
    const g = nativeFilter((t) => out.push(t));
    g.push("Error: Loader Message: setup_loader_term_phys_devs:  Failed to detect any valid GPUs");
    g.end();
    expect(out.join("")).toBe(
      "csnc: error: the input has 5 values [CSN4001]\n\r\x1b[Kprofiling 3/10\nlast line without a newline",
    );
  });

  it("csnc run with --backend auto runs on llvmpipe and prints nothing on stderr", () => {
    const r = spawnCsnc([bin], ["run", model]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(/^m on opengles \(llvmpipe/);
    expect(r.err).toBe("");
  });

  it("--verbose runs in-process and shows the native lines", () => {
    const r = spawnCsnc([bin], ["run", model, "--verbose"]);
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/artificially reduced/);
  });

  it("errors of the child reach the user with its exit code", () => {
    const r = spawnCsnc([bin], ["run", model, "--backend", "nope"]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/backend/);
  });

  it("a signal to csnc reaches the WebGPU child, and csnc exits as the shell expects", async () => {
    const p = spawn(process.execPath, [bin, "profile", model, "--iterations", "10000"]);
    let err = "";
    p.stderr.on("data", (d: Buffer) => (err += d.toString()));
    await new Promise((r) => setTimeout(r, 1500));
    p.kill("SIGTERM");
    const code = await new Promise<number | null>((r) => p.on("close", (c) => r(c)));
    expect(code, err).toBe(128 + 15);
    expect(err).not.toMatch(/internal error|\n\s+at /);
  });
});
