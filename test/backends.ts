// The adapters the kernel tests run on. CI has only the two CPU adapters; on a machine with a
// GPU, CSNC_TEST_BACKENDS=gpu (or a list, e.g. gpu,opengles) runs the same differential tests
// there, and the real half-arithmetic tests besides (bench/gpu.ts does so on a lent GPU).
import { acquireAdapter, backends, type Backend } from "../runtime/adapter-node.js";
import { isCpuAdapter } from "../runtime/device.js";

/** The two CPU adapters every CI machine has. */
export const cpuBackends: readonly Backend[] = ["swiftshader", "opengles"];

/** CSNC_TEST_BACKENDS's adapters, or the CPU ones; an unknown name stops the run. */
export function testBackends(): Backend[] {
  const text = process.env.CSNC_TEST_BACKENDS;
  if (!text) return [...cpuBackends];
  const names = text.split(",").map((s) => s.trim());
  const unknown = names.filter((n) => !(backends as readonly string[]).includes(n));
  if (unknown.length || !names.length)
    throw new Error(
      `CSNC_TEST_BACKENDS: unknown backend '${unknown[0] ?? ""}' (one of ${backends.join(", ")})`,
    );
  return names as Backend[];
}

/**
 * The listed adapters that are hardware, where its features can be tested: decided by the
 * adapter each one finds, not its name (`auto` or `vulkan` may find llvmpipe or SwiftShader).
 * CI lists only the CPU ones, so nothing is acquired there.
 */
export async function hardwareBackends(): Promise<Backend[]> {
  const named = testBackends().filter((b) => !cpuBackends.includes(b) && b !== "llvmpipe");
  const found = await Promise.all(
    named.map((b) =>
      acquireAdapter(b).then(
        (a) => !isCpuAdapter(a.adapter),
        () => false,
      ),
    ),
  );
  return named.filter((_, i) => found[i]);
}
