// `npm run bench:ceiling -- [--backend opengles] [--runs 3]`: the arithmetic ceiling of the
// adapter's generated code (llvmpipe's, not the CPU's), which every kernel figure on a CPU
// adapter is read against. Each invocation runs independent chains of vec4 fma() with no
// buffer or texture loads in the loop (many chains spill to the stack: llvmpipe holds a vec4
// of 8 invocations in four vector registers); the sweep varies how many chains (accumulators)
// it keeps and how many fma() each takes per loop trip. With one a trip, llvmpipe's masked
// store of each loop-carried value is the likely cost beside the arithmetic (no IR was read).
import { parseArgs } from "node:util";
import { columns, table } from "../cli/format.js";
import { acquireAdapter, backends, type Backend } from "../runtime/adapter-node.js";
import { describeAdapter, requestDevice } from "../runtime/device.js";
import { timeKernel } from "./common.js";

const { values: args } = parseArgs({
  options: {
    backend: { type: "string", default: "opengles" },
    runs: { type: "string", default: "3" },
  },
});

const backend = args.backend as Backend;
if (!backends.includes(backend)) fail(`--backend must be one of ${backends.join(", ")}`);
const runs = Number(args.runs);
if (!Number.isInteger(runs) || runs < 1) fail(`--runs must be a whole number of at least 1`);
function fail(message: string): never {
  process.stderr.write(`bench:ceiling: ${message}\n`);
  process.exit(2);
}

const workgroup = 64;
const workgroups = 256;
/** fma() calls each chain makes in all, whatever the unrolling. */
const fmasPerChain = 4096;

function fmaLoop(chains: number, perTrip: number): string {
  const cs = [...Array(chains).keys()];
  const trip = cs.flatMap((c) => Array(perTrip).fill(`a${c} = fma(a${c}, x, y);`));
  return `@group(0) @binding(0) var<storage, read_write> out: array<vec4<f32>>;
@compute @workgroup_size(${workgroup}) fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  ${cs.map((c) => `var a${c} = vec4<f32>(f32(id.x + ${c}u));`).join(" ")}
  // Runtime values, so that LLVM folds nothing.
  var x = vec4<f32>(0.999 + f32(id.x) * 1e-9);
  let y = x * 0.5;
  for (var n = 0u; n < ${fmasPerChain / perTrip}u; n++) {
    ${trip.join("\n    ")}
    x += vec4<f32>(1e-7);
  }
  out[id.x] = ${cs.map((c) => `a${c}`).join(" + ")};
}`;
}

const { adapter } = await acquireAdapter(backend);
const device = await requestDevice(adapter);
console.log(`${describeAdapter(adapter)}, median of ${runs} runs, wall clock per dispatch`);
const rows: string[][] = [];
for (const chains of [4, 16, 32])
  for (const perTrip of [1, 2, 4, 8]) {
    const flops = workgroups * workgroup * chains * fmasPerChain * 4 * 2;
    const { ms } = await timeKernel(
      device,
      {
        wgsl: fmaLoop(chains, perTrip),
        resources: [4 * workgroups * workgroup],
        dispatch: [workgroups, 1, 1],
      },
      runs,
    );
    rows.push([`${chains}`, `${perTrip}`, ms.toFixed(1), (flops / ms / 1e6).toFixed(1)]);
  }
console.log(table(columns([], ["vec4 accumulators", "fma a trip each", "ms", "GFLOP/s"]), rows));
process.exit(0);
