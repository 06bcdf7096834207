// `npm run bench:scaling -- [--model models/ir-csn-50.csn] [--backend opengles] [--iterations 3]`:
// how latency grows with the clip (T x H x W at four sizes) and with the batch (1, 2, 4, 8), and
// how close to linear that is: ms per clip-voxel against the smallest case's. Prints a table
// and appends it to BENCHMARKS.md.
import { appendFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { checkFile } from "../compiler/index.js";
import { nodeHost, projectRoot } from "../compiler/node-host.js";
import { tuningFor } from "../compiler/kernels/tuning.js";
import { columns, table } from "../cli/format.js";
import { acquireAdapter, type Backend } from "../runtime/adapter-node.js";
import { requestDevice } from "../runtime/device.js";
import { median } from "../runtime/profile.js";
import { randomInput } from "../runtime/random-input.js";
import { createSession } from "../runtime/session.js";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "models/ir-csn-50.csn" },
    backend: { type: "string", default: "opengles" },
    iterations: { type: "string", default: "3" },
    "no-append": { type: "boolean", default: false },
  },
});
const log = (s: string) => process.stderr.write(s + "\n");
const iterations = Number(args.iterations);
if (!Number.isInteger(iterations) || iterations < 1) {
  log(`bench:scaling: --iterations must be a positive integer, got '${args.iterations}'`);
  process.exit(2);
}
type Case = { batch: number; input: [number, number, number, number] };
const clips: Case[] = [
  { batch: 1, input: [3, 4, 56, 56] },
  { batch: 1, input: [3, 8, 112, 112] },
  { batch: 1, input: [3, 16, 112, 112] },
  { batch: 1, input: [3, 8, 224, 224] },
];
const batches: Case[] = [1, 2, 4, 8].map((batch) => ({ batch, input: [3, 8, 112, 112] }));

async function main() {
  const file = path.resolve(args.model!);
  const acquired = await acquireAdapter(args.backend as Backend);
  const device = await requestDevice(acquired.adapter);
  const time = async (c: Case) => {
    const r = checkFile(file, projectRoot(file), nodeHost, c);
    if (r.diagnostics.length) throw new Error(r.diagnostics.map((d) => d.message).join("\n"));
    const session = await createSession({
      graph: r.graphs[0]!,
      tuning: tuningFor(acquired.adapter.info),
      weights: { random: 1 },
      device,
    });
    const input = randomInput(session.plan.input.shape, 1);
    await session.run(input); // first use: the driver compiles the kernels
    const ms: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t = performance.now();
      await session.run(input);
      ms.push(performance.now() - t);
    }
    session.destroy();
    log(`  ${c.batch}x${c.input.join("x")}: ${median(ms).toFixed(0)} ms`);
    return median(ms);
  };
  const rows = async (cases: Case[]) => {
    const out: string[][] = [];
    let base: number | undefined;
    for (const c of cases) {
      const ms = await time(c);
      const voxels = c.batch * c.input[1] * c.input[2] * c.input[3];
      base ??= ms / voxels;
      out.push([
        `${c.batch}x${c.input.join("x")}`,
        String(voxels),
        ms.toFixed(1),
        ((1e6 * ms) / voxels).toFixed(2),
        `${(ms / voxels / base).toFixed(2)}`,
      ]);
    }
    return out;
  };
  const head = columns(["N x C x T x H x W"], ["clip-voxels", "median ms", "ns/voxel", "vs first"]);
  const byClip = table(head, await rows(clips));
  const byBatch = table(head, await rows(batches));
  device.destroy();
  const cpu = `${os.cpus()[0]?.model ?? "unknown CPU"}, ${os.availableParallelism()} threads`;
  const command = `npm run bench:scaling -- ${process.argv.slice(2).join(" ")}`.trim();
  const report = `${path.basename(file)} on ${acquired.backend} (${acquired.description}); ${cpu}\n\nBy clip size (batch 1):\n\n${byClip}\n\nBy batch (3x8x112x112 clips):\n\n${byBatch}\n\n"vs first" is ms per clip-voxel against the first row's: 1.00 is linear scaling, above it worse.`;
  console.log(report);
  if (!args["no-append"])
    appendFileSync(
      path.resolve("BENCHMARKS.md"),
      `\n## Scaling (${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC)\n\nMachine: ${cpu}, ${(os.totalmem() / 2 ** 30) | 0} GiB; command: \`${command}\`\n\n\`\`\`\n${report}\n\`\`\`\n`,
    );
  process.exit(0);
}

await main();
