// `csnc lsp`: a Language Server Protocol 3.17 server over a pair of streams. Documents are
// analysed after a pause in typing (diagnosticsDelayMs) and their diagnostics published; files
// that import a changed one are analysed again too. A failing request is logged and answered
// empty, never fatal: the editor keeps its server whatever the text.
import {
  createConnection,
  TextDocuments,
  TextDocumentSyncKind,
  type Connection,
  type InitializeResult,
} from "vscode-languageserver/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import { diagnosticsOf, registerFeatures, semanticLegend } from "./features.js";
import { uriToFile, Workspace } from "./workspace.js";

/** The pause after the last change before a document is checked again. */
export const diagnosticsDelayMs = 40;

export interface Streams {
  readonly input: NodeJS.ReadableStream;
  readonly output: NodeJS.WritableStream;
}

/** Starts the server; resolves when the client closes the connection. */
export function startServer(streams: Streams): Promise<void> {
  // Raw streams: the connection then ends the process when the client closes them.
  const connection: Connection = createConnection(streams.input, streams.output);
  const documents = new TextDocuments(TextDocument);
  const ws = new Workspace();
  const timers = new Map<string, NodeJS.Timeout>();
  let refreshHints = false; // whether the client takes inlay hint refresh requests

  const log = (what: string, e: unknown) =>
    connection.console.error(`csnc lsp: ${what} failed: ${(e as Error)?.stack ?? String(e)}`);
  function guard<T>(what: string, fallback: T, f: () => T, rethrow = false): T {
    try {
      return f();
    } catch (e) {
      if (rethrow) throw e;
      log(what, e);
      return fallback;
    }
  }

  const publish = (file: string) =>
    guard("diagnostics", undefined, () => {
      const a = ws.analysis(file);
      const doc = ws.document(file);
      if (!a || !doc) return;
      void connection.sendDiagnostics({
        uri: doc.uri,
        version: doc.version,
        diagnostics: diagnosticsOf(ws, a),
      });
    });

  const schedule = (file: string, delay = diagnosticsDelayMs) => {
    clearTimeout(timers.get(file));
    timers.set(
      file,
      setTimeout(() => {
        timers.delete(file);
        const dependents = ws.dependents(file);
        publish(file);
        // Files that import this one see its new text.
        for (const d of dependents) publish(d);
        // Hints of other files may change with this one (their blocks' shapes).
        if (refreshHints) connection.languages.inlayHint.refresh().catch(() => undefined);
      }, delay),
    );
  };

  connection.onInitialize((params): InitializeResult => {
    const folders = params.workspaceFolders?.map((f) => uriToFile(f.uri)) ?? [];
    const root = params.rootUri ? uriToFile(params.rootUri) : undefined;
    ws.roots = [...new Set([...folders, root])].filter((f): f is string => f !== undefined);
    refreshHints = params.capabilities.workspace?.inlayHint?.refreshSupport === true;
    return {
      capabilities: {
        textDocumentSync: TextDocumentSyncKind.Incremental,
        hoverProvider: true,
        definitionProvider: true,
        referencesProvider: true,
        renameProvider: { prepareProvider: true },
        completionProvider: { triggerCharacters: ["(", ",", "="] },
        signatureHelpProvider: { triggerCharacters: ["(", ","] },
        documentSymbolProvider: true,
        documentFormattingProvider: true,
        inlayHintProvider: true,
        semanticTokensProvider: { legend: semanticLegend, full: true },
      },
      serverInfo: { name: "csnc", version: "0.1.0" },
    };
  });

  documents.onDidOpen((e) =>
    guard("open", undefined, () => {
      const file = ws.open(e.document);
      if (file) schedule(file, 0);
    }),
  );
  documents.onDidChangeContent((e) =>
    guard("change", undefined, () => {
      const file = ws.open(e.document);
      if (file) schedule(file);
    }),
  );
  documents.onDidClose((e) =>
    guard("close", undefined, () => {
      ws.close(e.document.uri);
      void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
    }),
  );
  connection.onDidChangeWatchedFiles(() =>
    guard("watched files", undefined, () => {
      ws.invalidate();
      for (const f of ws.openFiles()) schedule(f);
    }),
  );

  registerFeatures(connection, ws, guard);
  documents.listen(connection);
  const closed = new Promise<void>((resolve) => connection.onExit(() => resolve()));
  connection.listen();
  return closed;
}
