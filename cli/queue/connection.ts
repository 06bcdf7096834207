// The queue's Redis: the URL parsed into connection options (a password and TLS allowed), the
// URL shown with its password redacted in every message, and connections that fail fast for
// the one-shot commands or reconnect forever for a worker.
// ioredis (and bullmq) load only when a queue command runs: every other command starts faster.
import type { Redis, RedisOptions } from "ioredis";
import { catalog } from "../../grammar/codes.js";
import { CsncError } from "../../runtime/errors.js";
import { UsageError } from "../options.js";

const codes = catalog.queue;

export interface RedisTarget {
  /** ioredis options: host, port, db, user, password, TLS. */
  readonly options: RedisOptions;
  /** The URL without its password: what messages show. */
  readonly shown: string;
  /** Removes the password (as given and percent-encoded) from a text. */
  redact(text: string): string;
}

/** The environment variable read when --queue is not given (keeps a password out of `ps`). */
export const queueEnv = "CSNC_QUEUE";

/** --queue URL, or $CSNC_QUEUE; a usage error when neither is given. */
export function queueUrl(option: string | undefined): string {
  const url = option ?? process.env[queueEnv];
  if (!url)
    throw new UsageError(`give the queue: --queue redis://HOST:PORT/DB (or set ${queueEnv})`);
  return url;
}

/** `redis://[user][:password@]host[:port][/db]` or `rediss://` (TLS) as connection options. */
export function parseRedisUrl(text: string): RedisTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    url = new URL("invalid:");
  }
  const password = url.password ? decodeURIComponent(url.password) : "";
  const secrets = [password, url.password].filter((s) => s.length > 0);
  const redact = (t: string) => secrets.reduce((acc, s) => acc.split(s).join("***"), t);
  if (url.protocol !== "redis:" && url.protocol !== "rediss:")
    throw new UsageError(
      `--queue must be a redis:// or rediss:// URL such as redis://127.0.0.1:6379/0, got '${redact(text).slice(0, 80)}'`,
    );
  const db = url.pathname.replace(/^\//, "") || "0";
  if (!/^\d{1,5}$/.test(db))
    throw new UsageError(`--queue: the database must be a number, got '${redact(db)}'`);
  const host = url.hostname.replace(/^\[(.*)\]$/, "$1") || "127.0.0.1";
  const port = url.port ? Number(url.port) : 6379;
  const username = url.username ? decodeURIComponent(url.username) : undefined;
  const tls = url.protocol === "rediss:";
  const options: RedisOptions = {
    host,
    port,
    db: Number(db),
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(tls ? { tls: { servername: host } } : {}),
  };
  const auth = username || password ? `${username ?? ""}${password ? ":***" : ""}@` : "";
  const shown = `${url.protocol}//${auth}${url.host}/${db}`;
  return { options, shown, redact };
}

/** Milliseconds a one-shot command waits for Redis before it gives up. */
export const connectBudgetMs = 4000;

/** Why Redis refused or could not be reached, as a CsncError whose message names it (redacted). */
export function connectionError(target: RedisTarget, e: unknown): CsncError {
  const message = e instanceof Error ? e.message : String(e);
  if (/WRONGPASS|invalid password|invalid username-password/i.test(message))
    return new CsncError(
      codes.queueAuth,
      `Redis at ${target.shown} refused the user name or password`,
    );
  if (/NOAUTH/i.test(message))
    return new CsncError(
      codes.queueAuth,
      `Redis at ${target.shown} requires a password: redis://:PASSWORD@HOST:PORT/DB`,
    );
  return new CsncError(
    codes.queueUnreachable,
    `cannot reach Redis at ${target.shown}: ${target.redact(message)}; is redis-server running there?`,
  );
}

/**
 * A client for a one-shot command: connected and answering PING within connectBudgetMs, or a
 * CsncError. Commands fail rather than wait when the connection drops later.
 */
export async function openClient(target: RedisTarget): Promise<Redis> {
  const { Redis } = await import("ioredis");
  const client = new Redis({
    ...target.options,
    lazyConnect: true,
    connectTimeout: connectBudgetMs - 1000,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => (times > 2 ? null : 200),
  });
  let last: unknown;
  client.on("error", (e) => (last = e));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${connectBudgetMs / 1000} s`)),
      connectBudgetMs,
    );
  });
  try {
    await Promise.race([client.connect().then(() => client.ping()), timeout]);
    return client;
  } catch (e) {
    client.disconnect();
    // The error event says more than ioredis's "Connection is closed."
    throw connectionError(target, last ?? e);
  } finally {
    clearTimeout(timer);
  }
}

/** A Redis failure midway through a command as a CsncError naming it; other errors as they are. */
export function lostConnection(target: RedisTarget, e: unknown): unknown {
  if (!(e instanceof Error) || e instanceof CsncError) return e;
  const fromRedis =
    e.name === "MaxRetriesPerRequestError" ||
    e.name === "ReplyError" ||
    /Connection is closed|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|Stream isn't writeable/.test(
      e.message,
    );
  if (!fromRedis) return e;
  return new CsncError(
    codes.queueUnreachable,
    `Redis at ${target.shown} failed midway: ${target.redact(e.message)}`,
  );
}

/** Connection options for a long-running worker: it waits out an outage and reconnects. */
export function workerConnection(target: RedisTarget): RedisOptions {
  return {
    ...target.options,
    maxRetriesPerRequest: null,
    connectTimeout: 10_000,
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 5), 2000),
  };
}
