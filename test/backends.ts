// The adapters the kernel tests run on. CI has only the two CPU adapters; on a machine with a
// GPU, CSNC_TEST_BACKENDS=gpu (or a list, e.g. gpu,opengles) runs the same differential tests
// there, and the real half-arithmetic tests besides (bench/gpu.ts does so on a lent GPU).
import { backends, type Backend } from "../runtime/adapter-node.js";

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

/** The listed adapters that are not the CPU ones: where real hardware features can be tested. */
export const hardwareBackends = (): Backend[] =>
  testBackends().filter((b) => !cpuBackends.includes(b) && b !== "llvmpipe");
