// csnc queue and csnc worker end to end, on a redis-server of the test's own (AOF on, a
// password set) with workers as child processes: every result arrives once and equals
// `csnc classify --json`'s record; a worker killed mid-job loses nothing; a corrupt video fails
// alone with its reason; Redis restarting mid-run is waited out; resubmitting adds nothing;
// bad input ends in seconds with a clear message and never shows the password.
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Queue } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "./helpers.js";
import {
  freePort,
  spawnBackground,
  startRedis,
  type Background,
  type RedisServer,
} from "./queue-redis.js";

const work = mkdtempSync(path.join(tmpdir(), "csnc-queue-"));
const root = path.join(work, "root");
const outside = path.join(work, "outside");
// Inside the workers' --root, as every file of a job must be.
const model = path.join(root, "tiny.csn");
mkdirSync(root, { recursive: true });
copyFileSync(path.resolve(import.meta.dirname, "fixtures/queue/tiny.csn"), model);
const password = "s3cret-Pw";
const sampling = ["--frames", "4", "--size", "32", "--crop", "32"];

/** `count` distinct 8-frame 32x32 videos (test patterns of different hues), made by one ffmpeg. */
function makeVideos(dir: string, prefix: string, count: number, hue0: number): string[] {
  mkdirSync(dir, { recursive: true });
  const files = Array.from({ length: count }, (_, i) => path.join(dir, `${prefix}${i}.mkv`));
  const splits = files.map((_, i) => `[s${i}]`).join("");
  const hues = files.map((_, i) => `[s${i}]hue=h=${hue0 + i * 7}[o${i}]`).join(";");
  const outputs = files.flatMap((f, i) => [
    "-map",
    `[o${i}]`,
    "-frames:v",
    "8",
    "-c:v",
    "ffv1",
    "-pix_fmt",
    "yuv444p",
    f,
  ]);
  execFileSync("ffmpeg", [
    "-y",
    "-v",
    "error",
    "-f",
    "lavfi",
    "-i",
    "testsrc=size=32x32:rate=8",
    "-filter_complex",
    `[0]split=${count}${splits};${hues}`,
    ...outputs,
  ]);
  return files;
}

function manifest(name: string, lines: string[]): string {
  const file = path.join(work, name);
  writeFileSync(file, lines.join("\n") + "\n");
  return file;
}

let redis: RedisServer;
const workers: Background[] = [];

/**
 * A worker on the test's Redis: short locks so a dead worker's job comes back in seconds (4 s:
 * above an ffprobe on a loaded machine, which holds the worker up).
 */
function startWorker(...extra: string[]): Background {
  const w = spawnBackground([
    "worker",
    "--queue",
    redis.url,
    "--backend",
    "opengles",
    "--root",
    root,
    "--lock-duration",
    "4000",
    "--stalled-interval",
    "1000",
    ...extra,
  ]);
  workers.push(w);
  return w;
}

const queue = (...args: string[]) =>
  run("queue", ...args.slice(0, 1), "--queue", redis.url, ...args.slice(1));
const submit = (file: string) => queue("submit", file, "--model", model, ...sampling);

/** The results of every submitted video, waited for, as parsed JSON lines. */
async function results(): Promise<{ code: number; lines: Record<string, unknown>[]; err: string }> {
  const out = path.join(work, "results.jsonl");
  const r = await queue("results", "--wait", "--output", out);
  const lines = readFileSync(out, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  return { code: r.code, lines, err: r.err };
}

/** classify --json's record of each video, on one machine, in one process. */
async function classify(videos: string[]): Promise<Record<string, unknown>[]> {
  const r = await run(
    "classify",
    ...videos,
    "--model",
    model,
    ...sampling,
    "--backend",
    "opengles",
    "--json",
  );
  return JSON.parse(r.out).results;
}

async function counts() {
  return JSON.parse((await queue("status", "--json")).out) as Record<string, number>;
}

/** A job as BullMQ stored it: its return value, progress and attempts. */
async function storedJob(id: string) {
  const q = new Queue("csnc", { connection: { host: "127.0.0.1", port: redis.port, password } });
  try {
    const job = (await q.getJob(id))!;
    return {
      returnvalue: job.returnvalue,
      progress: job.progress,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason,
    };
  } finally {
    await q.close();
  }
}

/** Job ids by what each worker printed: `done ID VIDEO`. */
const doneIds = (w: Background) => [...w.output().matchAll(/^done (\w+) /gm)].map((m) => m[1]!);

beforeAll(async () => {
  redis = await startRedis({ password, appendonly: true });
}, 30_000);

afterAll(async () => {
  for (const w of workers) w.killGroup();
  await redis?.stop();
});

describe("csnc queue: bad input ends in seconds, with a clear message", () => {
  it("unreachable Redis, a wrong or missing password, a bad URL", async () => {
    const dead = await freePort();
    const t0 = performance.now();
    const r = await run("queue", "status", "--queue", `redis://:${password}@127.0.0.1:${dead}/0`);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0.*\[CSN4301\]/,
    );
    const wrong = await run(
      "queue",
      "status",
      "--queue",
      `redis://:wrong-pw@127.0.0.1:${redis.port}/0`,
    );
    expect(wrong.code).toBe(1);
    expect(wrong.err).toMatch(/refused the user name or password \[CSN4302\]/);
    const none = await run("queue", "status", "--queue", `redis://127.0.0.1:${redis.port}/0`);
    expect(none.err).toMatch(/requires a password/);
    const url = await run("queue", "status", "--queue", `http://:${password}@127.0.0.1/0`);
    expect(url.code).toBe(2);
    // A worker refuses to start rather than retry forever; no URL at all is a usage error.
    const t1 = performance.now();
    const worker = await run("worker", "--queue", `redis://:${password}@127.0.0.1:${dead}/0`);
    expect(performance.now() - t1).toBeLessThan(5000);
    expect(worker.code).toBe(1);
    expect(worker.err).toMatch(/cannot reach Redis/);
    const env = process.env.CSNC_QUEUE;
    delete process.env.CSNC_QUEUE;
    const missing = await run("queue", "status");
    if (env !== undefined) process.env.CSNC_QUEUE = env;
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/--queue redis:\/\/HOST:PORT\/DB \(or set CSNC_QUEUE\)/);
    for (const x of [r, wrong, none, url, worker]) {
      expect(x.err).not.toContain(password);
      expect(x.err).not.toContain("wrong-pw");
      expect(x.err).not.toMatch(/\n\s+at /); // no stack trace
    }
  });

  it("a model that fails to check is refused before anything is enqueued", async () => {
    const [video] = makeVideos(root, "refused", 1, 300);
    const bad = path.join(work, "bad.csn");
    writeFileSync(bad, "model m() {\n  input 3 x 4 x 32 x 32\n  conv(8, 3x3x3)\n  nolayer\n}\n");
    const r = await queue("submit", manifest("refused.txt", [video!]), "--model", bad, ...sampling);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/nolayer/);
    expect(r.out).not.toMatch(/enqueued/);
    expect(await counts()).toEqual({ waiting: 0, active: 0, completed: 0, failed: 0, delayed: 0 });
  });
});

describe("csnc queue and two csnc workers", () => {
  const videos = makeVideos(root, "e2e", 20, 0);

  it("20 videos: every result arrives once, in manifest order, as classify --json has it", async () => {
    const out = path.join(work, "worker-a.jsonl");
    const dir = path.join(work, "worker-b");
    const [a, b] = [startWorker("--output", out), startWorker("--output-dir", dir)];
    // Text lines and JSON lines, one with an id of the manifest's own.
    const lines = videos.map((v, i) =>
      i % 3 === 0 ? JSON.stringify({ path: v, ...(i === 3 ? { id: "three" } : {}) }) : v,
    );
    const s = await submit(manifest("e2e.txt", ["# twenty videos", ...lines]));
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(/^enqueued 20, skipped 0 /);
    expect(s.out).not.toContain(password);
    const expected = await classify(videos);
    const got = await results();
    expect(got.code, got.err).toBe(0);
    expect(got.lines).toHaveLength(20);
    const { id, ...third } = got.lines[3]!;
    expect(id).toBe("three");
    expect([...got.lines.slice(0, 3), third, ...got.lines.slice(4)]).toEqual(expected);
    expect(JSON.stringify(got.lines[0])).toBe(JSON.stringify(expected[0]));
    // Exactly once: 20 completions, each job done by one worker once.
    const done = [...doneIds(a), ...doneIds(b)];
    expect(done).toHaveLength(20);
    expect(new Set(done).size).toBe(20);
    expect(await counts()).toMatchObject({ waiting: 0, active: 0, completed: 20, failed: 0 });
    expect((await queue("status")).out).toBe(
      `waiting 0  active 0  done 20  failed 0  [${"#".repeat(30)}] 20/20\n`,
    );
    // Each worker's own outputs: its results with job, timing and adapter, together all 20.
    const own = [
      ...(existsSync(out) ? readFileSync(out, "utf8").trim().split("\n") : []),
      ...readdirSync(dir).map((f) => readFileSync(path.join(dir, f), "utf8")),
    ].map((l) => JSON.parse(l));
    expect(own.map((r) => r.job).sort()).toEqual([...done].sort());
    for (const r of own) {
      expect(r.adapter).toMatch(/llvmpipe/);
      expect(r.timing.totalMs).toBeGreaterThan(0);
      expect(expected).toContainEqual(r.record);
    }
    const stored = await storedJob(done[0]!);
    expect(stored.progress).toBe(100);
    const { job: _, ...mine } = own.find((r) => r.job === done[0])!;
    expect(stored.returnvalue).toEqual(mine);
  }, 120_000);

  it("resubmitting the manifest enqueues nothing new", async () => {
    const s = await submit(path.join(work, "e2e.txt"));
    expect(s.code, s.err).toBe(0);
    expect(s.out).toMatch(/^enqueued 0, skipped 20 /);
    expect((await counts()).completed).toBe(20);
    expect((await results()).lines).toHaveLength(20);
  }, 60_000);

  it("on SIGTERM a worker finishes its current job and exits 0", async () => {
    const [a, b] = [workers[0]!, workers[1]!];
    expect((await submit(manifest("term.txt", makeVideos(root, "term", 2, 60)))).code).toBe(0);
    // Signalled as soon as one starts a job: that job is finished, not left to stall.
    const [w, id] = await Promise.race(
      [a, b].map((w) => w.waitFor(/^start (\w+) .*term\d\.mkv$/m).then((m) => [w, m[1]!] as const)),
    );
    for (const x of [a, b]) x.child.kill("SIGTERM");
    for (const x of [a, b]) {
      expect(await x.exited()).toBe(0);
      expect(x.output()).toMatch(
        /SIGTERM: finishing the current jobs, then stopping\n(.*\n)*stopped\n$/,
      );
      expect(x.output()).not.toContain(password);
    }
    expect(doneIds(w)).toContain(id);
    const [, name] = w.output().match(/^worker (\S+) /m)!;
    expect((await storedJob(id)).returnvalue.worker).toBe(name);
  }, 60_000);

  it("a worker SIGKILLed mid-job: its job is redone by another, nothing lost or duplicated", async () => {
    const more = makeVideos(root, "kill", 4, 150);
    expect((await submit(manifest("kill.txt", more))).out).toMatch(/^enqueued 4, /);
    // Alone, so that it takes a job; its first job includes compiling the model: the kill
    // lands mid-job.
    const doomed = startWorker();
    const [, name] = await doomed.waitFor(/^worker (\S+) /m);
    const [, jobId] = await doomed.waitFor(/^start (\w+) /m);
    doomed.killGroup(); // the worker and its filtered child, as a machine dying
    expect(await doomed.exited()).toBe("SIGKILL");
    const [other, replacement] = [startWorker(), startWorker()];
    // status --watch redraws until nothing is left to run (a line per change off a terminal).
    const watched = (await queue("status", "--watch")).out.trim().split("\n");
    expect(watched.at(-1)).toMatch(
      /^waiting 0 {2}active 0 {2}done 26 {2}failed 0 {2}\[#{30}\] 26\/26$/,
    );
    const got = await results();
    expect(got.lines).toHaveLength(26);
    expect(got.lines.slice(22)).toEqual(await classify(more));
    // Those four, and a term.txt video SIGTERM left waiting, if any: each done once.
    const done = [...doneIds(other), ...doneIds(replacement)];
    expect(done).toContain(jobId);
    expect(done.length).toBeGreaterThanOrEqual(4);
    expect(new Set(done).size).toBe(done.length);
    expect(doneIds(doomed)).not.toContain(jobId);
    const redone = await storedJob(jobId!);
    expect(redone.returnvalue.worker).not.toBe(name);
    expect(redone.progress).toBe(100);
    expect(await counts()).toMatchObject({ completed: 26, failed: 0, active: 0 });
  }, 120_000);

  it("a corrupt video and one outside the worker's root fail with their reasons; the others finish", async () => {
    const good = makeVideos(root, "good", 2, 200);
    const corrupt = path.join(root, "corrupt.mkv");
    writeFileSync(corrupt, readFileSync(good[0]!).subarray(0, 300));
    const [away, served] = makeVideos(outside, "away", 2, 250);
    // An http URL: hashed by submit, refused by a worker not started with --allow-http.
    const server = createServer((_, res) => res.end(readFileSync(served!)));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/away1.mkv`;
    const lines = [good[0]!, corrupt, away!, url, good[1]!, path.join(root, "missing.mkv")];
    const s = await submit(manifest("mixed.txt", [...lines, "ftp://127.0.0.1/x.mkv"]));
    server.close();
    expect(s.code).toBe(1); // the missing file and the ftp URL, reported by line; the rest enqueued
    expect(s.err).toMatch(
      /mixed\.txt:6: .*missing\.mkv: no such file\n.*mixed\.txt:7: .*ftp: URLs are not supported/,
    );
    expect(s.out).toMatch(/^enqueued 5, skipped 0 .*; 2 lines not submitted/);
    const got = await results();
    expect(got.code).toBe(1);
    const [g0, bad, far, web, g1] = got.lines.slice(26);
    expect(web).toEqual({ video: url, error: expect.stringMatching(/--allow-http/) });
    const expected = await classify([good[0]!, corrupt, good[1]!]);
    expect([g0, bad, g1]).toEqual(expected); // the corrupt one's {video, error} as classify says it
    expect(bad!.error).toMatch(/not a readable video|could not decode/);
    expect(far).toEqual({
      video: away,
      error: expect.stringMatching(/outside the worker's --root/),
    });
    expect(await counts()).toMatchObject({ completed: 28, failed: 3, waiting: 0, active: 0 });
    // Permanent failures are not retried.
    const corruptJob = [
      ...workers
        .map((w) => w.output())
        .join("")
        .matchAll(/^failed (\w+) .*corrupt\.mkv/gm),
    ];
    expect(corruptJob).toHaveLength(1);
    expect((await storedJob(corruptJob[0]![1]!)).attemptsMade).toBe(1);
  }, 120_000);

  it("Redis restarting mid-run (AOF on): the workers reconnect and finish every job once; then SIGTERM, and SIGKILL to csnc alone, stop them", async () => {
    const live = workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null);
    expect(live).toHaveLength(2);
    const videos = makeVideos(root, "restart", 8, 100);
    const before = live.map((w) => doneIds(w).length);
    expect((await submit(manifest("restart.txt", videos))).out).toMatch(/^enqueued 8, /);
    await Promise.race(live.map((w) => w.waitFor(/^start \w+ .*restart\d\.mkv$/m)));
    await redis.crash();
    await new Promise((r) => setTimeout(r, 1500));
    await redis.restart();
    const got = await results();
    expect(got.lines.slice(31)).toEqual(await classify(videos));
    const done = live.flatMap((w, i) => doneIds(w).slice(before[i]));
    expect(new Set(done).size).toBe(8);
    expect(done).toHaveLength(8);
    expect(live.map((w) => w.output()).join("")).toMatch(
      /csnc worker: .*\(Redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/0; retrying\)/,
    );
    expect(await counts()).toMatchObject({ completed: 36, failed: 3, waiting: 0, active: 0 });
    for (const w of live) expect(w.output()).not.toContain(password);
    live[1]!.child.kill("SIGTERM");
    expect(await live[1]!.exited()).toBe(0);
    // SIGKILL to csnc's own process alone: its filtered child, the worker, stops as well.
    const [, name] = live[0]!.output().match(/^worker (\S+) /m)!;
    live[0]!.child.kill("SIGKILL");
    expect(await live[0]!.exited()).toBe("SIGKILL");
    const pid = Number(name!.split(":").pop());
    // Gone, or a zombie left for its new parent to reap.
    const alive = () => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(alive()).toBe(false);
  }, 120_000);

  it("an http video whose server fails once is retried after a backoff and then classified", async () => {
    const [video] = makeVideos(outside, "served", 1, 330);
    // The first GET (submit hashing it) and the third succeed; the worker's first gets a 503.
    let gets = 0;
    const server = createServer((_, res) => {
      gets++;
      if (gets === 2) res.writeHead(503).end();
      else res.end(readFileSync(video!));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/served0.mkv`;
    const other = ["--name", "http"];
    const s = await queue(
      "submit",
      manifest("http.txt", [url]),
      "--model",
      model,
      ...sampling,
      ...other,
      "--backoff",
      "200",
    );
    expect(s.out).toMatch(/^enqueued 1, /);
    const w = startWorker("--allow-http", "--concurrency", "2", ...other);
    await w.waitFor(/^done /m);
    const out = path.join(work, "http.jsonl");
    expect((await queue("results", "--output", out, ...other)).code).toBe(0);
    server.close();
    const [record] = await classify([video!]);
    expect(JSON.parse(readFileSync(out, "utf8"))).toEqual({ ...record, video: url });
    expect(w.output()).toMatch(/^failed \w+ .*HTTP 503 \(try 1 of 3; retrying\)$/m);
    expect(gets).toBe(3);
    w.child.kill("SIGTERM");
    expect(await w.exited()).toBe(0);
  }, 120_000);
});
