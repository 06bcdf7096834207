// A minimal LSP client for the benchmark (bench/lsp.ts) and the tests: spawns `csnc lsp
// --stdio` and speaks JSON-RPC over its standard streams, with the Content-Length framing an editor uses. Every
// byte the server writes to standard output must be part of a message; anything else fails.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { pathToFileURL } from "node:url";

export interface Message {
  readonly jsonrpc: "2.0";
  readonly id?: number;
  readonly method?: string;
  readonly params?: unknown;
  readonly result?: unknown;
  readonly error?: { code: number; message: string };
}

export const uri = (file: string) => pathToFileURL(file).href;

export class LspClient {
  readonly child: ChildProcessWithoutNullStreams;
  /** Notifications and requests from the server, in arrival order. */
  readonly received: Message[] = [];
  /** Bytes on stdout that were not a well-framed message. */
  readonly garbage: string[] = [];
  stderr = "";
  private buffer = Buffer.alloc(0);
  private nextId = 1;
  private readonly pending = new Map<number, (m: Message) => void>();
  private readonly waiters: { test: (m: Message) => boolean; resolve: (m: Message) => void }[] = [];

  constructor(entry: readonly string[], cwd: string) {
    this.child = spawn(process.execPath, [...entry, "lsp", "--stdio"], { cwd });
    this.child.stdout.on("data", (d: Buffer) => this.data(d));
    this.child.stderr.on("data", (d: Buffer) => (this.stderr += d.toString()));
  }

  private data(d: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, d]);
    for (;;) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const header = this.buffer.subarray(0, end).toString();
      const length = /^Content-Length: (\d+)$/im.exec(header);
      if (!length || !/^Content-Length: \d+(\r\nContent-Type: [^\r\n]+)?$/i.test(header)) {
        this.garbage.push(header);
        this.buffer = this.buffer.subarray(end + 4);
        continue;
      }
      const size = Number(length[1]);
      if (this.buffer.length < end + 4 + size) return;
      const body = this.buffer.subarray(end + 4, end + 4 + size).toString();
      this.buffer = this.buffer.subarray(end + 4 + size);
      this.message(JSON.parse(body) as Message);
    }
  }

  private message(m: Message): void {
    if (m.id !== undefined && m.method === undefined) {
      this.pending.get(m.id)?.(m);
      this.pending.delete(m.id);
      return;
    }
    // Requests from the server (inlay hint refresh, ...) are answered at once.
    if (m.id !== undefined) this.send({ jsonrpc: "2.0", id: m.id, result: null });
    this.received.push(m);
    for (const w of [...this.waiters])
      if (w.test(m)) {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        w.resolve(m);
      }
  }

  private send(m: object): void {
    const body = JSON.stringify(m);
    this.child.stdin.write(`Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }

  /** A request's response; rejects on a protocol error or after `timeoutMs`. */
  request<T = unknown>(method: string, params: unknown, timeoutMs = 20_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${method}: no answer in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.set(id, (m) => {
        clearTimeout(timer);
        if (m.error) reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
        else resolve(m.result as T);
      });
      this.send({ jsonrpc: "2.0", id, method, params });
    });
  }

  notify(method: string, params: unknown): void {
    this.send({ jsonrpc: "2.0", method, params });
  }

  /** The next message from the server (from now on) that passes `test`. */
  next(test: (m: Message) => boolean, timeoutMs = 20_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no such message in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        test,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  /** The next diagnostics published for `file`. */
  diagnostics(
    file: string,
    timeoutMs?: number,
  ): Promise<{ uri: string; diagnostics: Diagnostic[] }> {
    return this.next(
      (m) =>
        m.method === "textDocument/publishDiagnostics" &&
        (m.params as { uri: string }).uri === uri(file),
      timeoutMs,
    ).then((m) => m.params as { uri: string; diagnostics: Diagnostic[] });
  }

  async initialize(root: string): Promise<unknown> {
    const r = await this.request("initialize", {
      processId: process.pid,
      rootUri: uri(root),
      capabilities: {},
      workspaceFolders: [{ uri: uri(root), name: "root" }],
    });
    this.notify("initialized", {});
    return r;
  }

  open(file: string, text: string, version = 1): void {
    this.notify("textDocument/didOpen", {
      textDocument: { uri: uri(file), languageId: "csn", version, text },
    });
  }

  /** Replaces the whole text of an open document. */
  change(file: string, text: string, version: number): void {
    this.notify("textDocument/didChange", {
      textDocument: { uri: uri(file), version },
      contentChanges: [{ text }],
    });
  }

  async close(): Promise<number | null> {
    const exited = new Promise<number | null>((resolve) =>
      this.child.on("exit", (c) => resolve(c)),
    );
    try {
      await this.request("shutdown", null, 5000);
      this.notify("exit", null);
    } catch {
      this.child.kill("SIGKILL");
    }
    return exited;
  }
}

export interface Diagnostic {
  readonly range: Range;
  readonly message: string;
  readonly code?: string;
  readonly relatedInformation?: { location: { uri: string; range: Range }; message: string }[];
}
export interface Position {
  readonly line: number;
  readonly character: number;
}
export interface Range {
  readonly start: Position;
  readonly end: Position;
}

/** The position of the first `needle` in `text` (plus `delta` characters). */
export function positionOf(text: string, needle: string, delta = 0): Position {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`'${needle}' not in the text`);
  const before = text.slice(0, at + delta).split("\n");
  return { line: before.length - 1, character: before.at(-1)!.length };
}
