// The queue tests' Redis and workers: a redis-server of their own on a free loopback port
// (nothing saved unless AOF is asked for), started until it answers PING and killed after; and
// csnc workers as child processes, each in a process group of its own so that a SIGKILL takes
// the worker and its filtered child together, as a machine dying would.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { csncEntry, root } from "./csnc-process.js";

/** A loopback port nobody listens on now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Whether something on `port` answers PING (an error reply such as NOAUTH counts). */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (d) => done(/^[+-]/.test(d.toString())));
  });
}

export interface RedisServer {
  readonly port: number;
  /** redis://:PASSWORD@127.0.0.1:PORT/0 */
  readonly url: string;
  /** Kills it (SIGKILL: a crash) and waits until it is gone. */
  crash(): Promise<void>;
  /** Starts it again on the same port, with the same files. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisSettings {
  readonly password?: string;
  /** AOF on, each write synced: a crash loses nothing. */
  readonly appendonly?: boolean;
}

export async function startRedis(o: RedisSettings = {}): Promise<RedisServer> {
  const dir = mkdtempSync(path.join(tmpdir(), "csnc-redis-"));
  let child: ChildProcess | undefined;
  let port = 0;
  const launch = async (): Promise<boolean> => {
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir];
    args.push("--appendonly", o.appendonly ? "yes" : "no", "--appendfsync", "always");
    if (o.password) args.push("--requirepass", o.password);
    const c = spawn("redis-server", args, { stdio: "ignore" });
    child = c;
    let exited = false;
    c.once("exit", () => (exited = true));
    for (let i = 0; i < 200 && !exited; i++) {
      if (await answersPing(port)) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    c.kill("SIGKILL");
    return false;
  };
  // A port found free may be taken before redis-server binds it: try another.
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    if (await launch()) break;
    if (attempt === 4) throw new Error("redis-server did not start (is it installed?)");
  }
  const kill = async (signal: NodeJS.Signals) => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once("exit", () => resolve());
      c.kill(signal);
    });
  };
  return {
    port,
    url: `redis://${o.password ? `:${o.password}@` : ""}127.0.0.1:${port}/0`,
    crash: () => kill("SIGKILL"),
    restart: async () => {
      if (!(await launch())) throw new Error(`redis-server did not restart on port ${port}`);
    },
    stop: () => kill("SIGTERM"),
  };
}

/** A csnc process running in the background (a worker), with what it has printed so far. */
export interface Background {
  readonly child: ChildProcess;
  /** stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output (within `timeoutMs`). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal) once it has exited. */
  exited(): Promise<number | NodeJS.Signals>;
  /** SIGKILL to its whole process group: the worker and its filtered child die together. */
  killGroup(): void;
}

/** `csnc ARGS...` in the background, in a process group of its own. */
export function spawnBackground(args: readonly string[]): Background {
  const env = { ...process.env };
  delete env.CSNC_DEBUG;
  const child = spawn(process.execPath, [...csncEntry(), ...args], {
    cwd: root,
    env,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let text = "";
  const waiters = new Set<() => void>();
  const grow = (d: Buffer) => {
    text += d.toString();
    for (const w of waiters) w();
  };
  child.stdout!.on("data", grow);
  child.stderr!.on("data", grow);
  const exit = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal!)),
  );
  return {
    child,
    output: () => text,
    waitFor: (pattern, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const m = text.match(pattern);
          if (!m) return;
          cleanup();
          resolve(m);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no ${pattern} within ${timeoutMs} ms in:\n${text}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    exited: () => exit,
    killGroup: () => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    },
  };
}
