// The queue's parts without Redis: URLs and their redaction, manifests, job ids, the checks of
// a job's data, and the worker's --root (a symbolic link cannot lead out of it).
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parseRedisUrl } from "../cli/queue/connection.js";
import { localFile } from "../cli/queue/inputs.js";
import { checkJobData, jobIdOf, readManifest, sourceOf, type JobData } from "../cli/queue/jobs.js";
import { CsncError } from "../runtime/errors.js";
import { UsageError } from "../cli/options.js";

const work = realpathSync(mkdtempSync(path.join(tmpdir(), "csnc-queue-parts-")));

describe("the Redis URL", () => {
  it("takes a user, a percent-encoded password, a database and TLS, and never shows the password", () => {
    const t = parseRedisUrl("rediss://worker:p%40ss%3Aword@cache.example:6380/3");
    expect(t.options).toMatchObject({
      host: "cache.example",
      port: 6380,
      db: 3,
      username: "worker",
      password: "p@ss:word",
      tls: { servername: "cache.example" },
    });
    expect(t.shown).toBe("rediss://worker:***@cache.example:6380/3");
    expect(t.redact("AUTH p@ss:word failed (p%40ss%3Aword)")).toBe("AUTH *** failed (***)");
    expect(parseRedisUrl("redis://127.0.0.1").options).toMatchObject({ port: 6379, db: 0 });
    expect(parseRedisUrl("redis://[::1]:7000/1").options).toMatchObject({
      host: "::1",
      port: 7000,
    });
  });
  it("refuses other schemes and databases that are not numbers, without echoing the password", () => {
    for (const bad of ["http://:topsecret@h/0", "redis://:topsecret@h/x", "not a url"]) {
      let e: unknown;
      try {
        parseRedisUrl(bad);
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(UsageError);
      expect((e as Error).message).not.toContain("topsecret");
    }
  });
});

describe("manifests and job ids", () => {
  it("reads paths, URLs and JSON lines, and names each bad line", () => {
    const file = path.join(work, "m.txt");
    const lines = [
      "# a comment",
      "a.mkv",
      "",
      '{"path": "b.mkv", "id": 7}',
      "{not json",
      '{"id": 1}',
    ];
    writeFileSync(file, lines.join("\n"));
    const m = readManifest(file);
    expect(m.entries).toEqual([
      { line: 2, video: "a.mkv" },
      { line: 4, video: "b.mkv", id: "7" },
    ]);
    expect(m.problems.map((p) => p.line)).toEqual([5, 6]);
    expect(sourceOf("a.mkv", "/data")).toEqual({ kind: "file", path: "/data/a.mkv" });
    expect(sourceOf("file:///data/x%20y.mkv", "/")).toEqual({
      kind: "file",
      path: "/data/x y.mkv",
    });
    expect(sourceOf("HTTPS://h/v.mp4", "/")).toEqual({ kind: "url", url: "HTTPS://h/v.mp4" });
    expect(() => sourceOf("ftp://h/v.mp4", "/")).toThrow(/ftp: URLs are not supported/);
  });

  const digest = "a".repeat(64);
  const spec = {
    model: "/m/tiny.csn",
    modelDigest: "b".repeat(64),
    graphDigest: "d".repeat(64),
    naming: "auto",
    set: [],
    seed: 1,
    labels: "kinetics400",
    sampling: {
      frames: 4,
      rate: 2,
      size: 32,
      crop: 32,
      clips: 1,
      crops: 1 as const,
      norm: "vmz" as const,
    },
  };
  it("a job's id depends on the bytes and what changes the result, not on paths", () => {
    const id = jobIdOf(digest, spec);
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(jobIdOf(digest, { ...spec, model: "/elsewhere/tiny.csn" })).toBe(id);
    expect(jobIdOf(digest, { ...spec, sampling: { ...spec.sampling, clips: 2 } })).not.toBe(id);
    expect(jobIdOf("c".repeat(64), spec)).not.toBe(id);
    expect(jobIdOf(digest, { ...spec, graphDigest: "e".repeat(64) })).not.toBe(id);
  });
  it("a job's data is checked field by field", () => {
    const good: JobData = { video: "v.mkv", source: "/d/v.mkv", videoDigest: digest, spec };
    expect(checkJobData(good)).toBe(good);
    const unnamed = { ...good, spec: { ...spec, labels: "none" } }; // --labels none
    expect(checkJobData(unnamed)).toBe(unnamed);
    const bad = [
      { ...good, videoDigest: "../../etc" },
      { ...good, spec: { ...spec, naming: "evil" } },
      { ...good, spec: { ...spec, sampling: { ...spec.sampling, frames: 1e9 } } },
      { ...good, spec: { ...spec, set: [{}] } },
      { ...good, spec: { ...spec, weights: "/w.safetensors" } }, // without its digest
      "a string",
    ];
    for (const b of bad) expect(() => checkJobData(b)).toThrow(/the job is malformed/);
  });
});

describe("the worker's --root", () => {
  it("opens regular files inside it, and refuses what is outside, through a link or not", () => {
    const root = path.join(work, "root");
    mkdirSync(root);
    writeFileSync(path.join(root, "in.mkv"), "x");
    writeFileSync(path.join(work, "out.mkv"), "x");
    symlinkSync(path.join(work, "out.mkv"), path.join(root, "link.mkv"));
    const policy = { root, allowHttp: false };
    expect(localFile(path.join(root, "in.mkv"), policy, "video")).toBe(path.join(root, "in.mkv"));
    for (const [file, why] of [
      [path.join(root, "link.mkv"), /outside the worker's --root/],
      [path.join(root, "../out.mkv"), /outside the worker's --root/],
      [path.join(root, "missing.mkv"), /no such file/],
      [root, /not a regular file/],
    ] as const) {
      let e: unknown;
      try {
        localFile(file, policy, "video");
      } catch (x) {
        e = x;
      }
      expect(e).toBeInstanceOf(CsncError);
      expect((e as Error).message).toMatch(why);
    }
  });
});
