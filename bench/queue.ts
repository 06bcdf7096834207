// `npm run bench:queue -- [--jobs 200] [--workers 2] [--backend opengles]`: what the queue
// costs. The same small videos (8 frames of 32x32, the tiny model of test/fixtures/queue) go
// once through `csnc classify` in one process and once through `csnc queue submit` to a
// redis-server of the bench's own and N `csnc worker` processes. Prints a markdown table:
// wall time and videos/s of each, and the queue's overhead per job: the worker time a job took
// (BullMQ's processedOn -> finishedOn) beyond its own classify work (the job's totalMs), and
// the worker-seconds per job beyond classify's seconds per video in one process.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { Queue } from "bullmq";
import { Redis } from "ioredis";

const { values: args } = parseArgs({
  options: {
    jobs: { type: "string", default: "200" },
    workers: { type: "string", default: "2" },
    backend: { type: "string", default: "opengles" },
  },
});
const jobs = Number(args.jobs);
const workerCount = Number(args.workers);
const repo = path.resolve(import.meta.dirname, "..");
const bin = path.join(repo, "dist/cli/bin.js");
const work = mkdtempSync(path.join(tmpdir(), "csnc-bench-queue-"));
const model = path.join(work, "tiny.csn");
copyFileSync(path.join(repo, "test/fixtures/queue/tiny.csn"), model);
const sampling = ["--frames", "4", "--size", "32", "--crop", "32"];

/** Distinct 8-frame 32x32 test patterns (hues), 50 per ffmpeg run. */
function makeVideos(count: number): string[] {
  const files = Array.from({ length: count }, (_, i) => path.join(work, `v${i}.mkv`));
  for (let first = 0; first < count; first += 50) {
    const batch = files.slice(first, first + 50);
    const graph = `[0]split=${batch.length}${batch.map((_, i) => `[s${i}]`).join("")};${batch
      .map((_, i) => `[s${i}]hue=h=${((first + i) * 1.7).toFixed(1)}[o${i}]`)
      .join(";")}`;
    const outputs = batch.flatMap((f, i) => [
      ...["-map", `[o${i}]`, "-frames:v", "8", "-c:v", "ffv1", "-pix_fmt", "yuv444p", f],
    ]);
    execFileSync("ffmpeg", [
      ...["-y", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=8"],
      ...["-filter_complex", graph, ...outputs],
    ]);
  }
  return files;
}

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** csnc ARGS, waited for; its wall seconds. */
function csnc(argv: string[]): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...argv], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => (err += d));
    child.on("exit", (code) =>
      code === 0
        ? resolve((performance.now() - start) / 1000)
        : reject(new Error(`csnc ${argv[0]} exited ${code}: ${err}`)),
    );
  });
}

const videos = makeVideos(jobs);
const manifest = path.join(work, "manifest.txt");
writeFileSync(manifest, videos.join("\n") + "\n");

// One process: classify every video.
const classifyS = await csnc([
  "classify",
  ...videos,
  "--model",
  model,
  ...sampling,
  "--backend",
  args.backend,
  "--json",
]);
console.error(`classify in one process: ${classifyS.toFixed(1)} s`);

// The queue: a redis-server of our own, N workers (started and ready first), then submit.
const port = await freePort();
const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", ""], {
  stdio: "ignore",
});
// Whatever happens, the bench's redis-server and workers end with it.
const children: ChildProcess[] = [redis];
process.on("exit", () => children.forEach((c) => c.kill("SIGKILL")));
const url = `redis://127.0.0.1:${port}/0`;
// Commands wait (offline queue) while redis-server starts; reconnects every 100 ms.
const client = new Redis({ port, maxRetriesPerRequest: null, retryStrategy: () => 100 });
client.on("error", () => undefined);
await client.ping();
const workers: ChildProcess[] = [];
await Promise.all(
  Array.from({ length: workerCount }, () => {
    const w = spawn(
      process.execPath,
      [bin, "worker", "--queue", url, "--backend", args.backend, "--root", work],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    workers.push(w);
    children.push(w);
    return new Promise<void>((resolve) => {
      let out = "";
      w.stdout!.on("data", (d) => {
        out += d;
        if (out.includes("waiting for jobs")) resolve();
      });
    });
  }),
);
const queue = new Queue("csnc", { connection: client });
const t0 = performance.now();
const submitS = await csnc([
  "queue",
  "submit",
  manifest,
  "--queue",
  url,
  "--model",
  model,
  ...sampling,
]);
for (;;) {
  const c = await queue.getJobCounts("completed", "failed");
  if ((c.completed ?? 0) + (c.failed ?? 0) >= jobs) break;
  await sleep(100);
}
const queueS = (performance.now() - t0) / 1000;
const done = await queue.getJobs(["completed"], 0, -1);
const inWorker = done.map((j) => j.finishedOn! - j.processedOn!);
const ownWork = done.map((j) => (j.returnvalue as { timing: { totalMs: number } }).timing.totalMs);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
for (const w of workers) w.kill("SIGTERM");
await Promise.all(workers.map((w) => new Promise((r) => w.once("exit", r))));
await queue.close();
client.disconnect();
redis.kill("SIGTERM");

const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
const rows = [
  [
    "csnc classify, one process",
    `${classifyS.toFixed(1)} s`,
    (jobs / classifyS).toFixed(2),
    ms(classifyS / jobs),
  ],
  [
    `csnc queue, ${workerCount} workers (submit ${submitS.toFixed(1)} s included)`,
    `${queueS.toFixed(1)} s`,
    (jobs / queueS).toFixed(2),
    ms(queueS / jobs),
  ],
];
console.log(
  `${jobs} videos (8 frames of 32x32, test/fixtures/queue/tiny.csn, ${sampling.join(" ")}), --backend ${args.backend};`,
);
console.log(
  `${cpus().length} CPUs (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GiB, load average ${loadavg()[0]!.toFixed(1)} at the end\n`,
);
console.log("| run | wall | videos/s | wall per video |");
console.log("| --- | ---: | ---: | ---: |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
console.log(
  `\nqueue overhead per job: ${(mean(inWorker) - mean(ownWork)).toFixed(1)} ms in the worker beyond the job's own work (BullMQ processedOn -> finishedOn ${mean(inWorker).toFixed(1)} ms, the job's totalMs ${mean(ownWork).toFixed(1)} ms);`,
);
console.log(
  `${ms((workerCount * queueS) / jobs)} of worker time per job against ${ms(classifyS / jobs)} per video in one process: ${ms((workerCount * queueS - classifyS) / jobs)} more per job (the workers were started before the clock; their compiles, submit and Redis round trips are in it; classify's start-up and compile are in its time)`,
);
