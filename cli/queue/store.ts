// The one-shot commands' view of a queue: the BullMQ queue on a client that fails fast, and
// the submitted manifests' order (a Redis list beside the queue's keys), which results follow.
import type { Queue } from "bullmq";
import type { Redis } from "ioredis";
import { UsageError } from "../options.js";
import { openClient, parseRedisUrl, queueUrl, type RedisTarget } from "./connection.js";

/** A manifest line as submitted: its job and how the manifest named the video. */
export interface OrderEntry {
  readonly jobId: string;
  readonly video: string;
  readonly id?: string;
}

export interface QueueHandle {
  readonly queue: Queue;
  readonly client: Redis;
  readonly target: RedisTarget;
  close(): Promise<void>;
}

/** --name: BullMQ's queue name, which prefixes its Redis keys. */
export function checkQueueName(name: string): string {
  if (!/^[\w.-]{1,100}$/.test(name))
    throw new UsageError(
      `--name must be letters, digits, '.', '-' or '_', got '${name.slice(0, 40)}'`,
    );
  return name;
}

/** The queue `--queue URL --name NAME` names, connected (a CsncError within seconds if not). */
export async function openQueue(url: string | undefined, name: string): Promise<QueueHandle> {
  const target = parseRedisUrl(queueUrl(url));
  checkQueueName(name);
  const client = await openClient(target);
  const { Queue } = await import("bullmq");
  const queue = new Queue(name, { connection: client });
  // A connection lost later fails the command's request (maxRetriesPerRequest 1), not the process.
  queue.on("error", () => undefined);
  return {
    queue,
    client,
    target,
    close: async () => {
      await queue.close().catch(() => undefined);
      client.disconnect();
    },
  };
}

const keys = (h: QueueHandle) => ({
  order: h.queue.toKey("csnc:order"),
  seen: h.queue.toKey("csnc:seen"),
});

// Appends an entry unless the same one was recorded before: resubmitting changes nothing.
const appendOnce = `if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[1]) end return 0`;

/** Records the manifest's lines after those submitted before, each line once. */
export async function recordOrder(h: QueueHandle, entries: readonly OrderEntry[]): Promise<void> {
  const { order, seen } = keys(h);
  const pipeline = h.client.pipeline();
  for (const e of entries)
    pipeline.eval(appendOnce, 2, seen, order, JSON.stringify([e.jobId, e.video, e.id ?? null]));
  const replies = (await pipeline.exec()) ?? [];
  const failed = replies.find(([e]) => e);
  if (failed) throw failed[0];
}

/** Every manifest line submitted to the queue, in order. */
export async function readOrder(h: QueueHandle): Promise<OrderEntry[]> {
  const raw = await h.client.lrange(keys(h).order, 0, -1);
  return raw.map((r) => {
    const [jobId, video, id] = JSON.parse(r) as [string, string, string | null];
    return { jobId, video, ...(id !== null ? { id } : {}) };
  });
}
