// The CSN extension: starts csnc's language server (`csnc lsp --stdio`) for .csn files. The
// grammar and the language configuration are declared in package.json; everything else
// (diagnostics, shapes, hover, navigation, completion, formatting) comes from the server.
import { existsSync } from "node:fs";
import * as path from "node:path";
import { workspace, type ExtensionContext } from "vscode";
import { LanguageClient, type ServerOptions } from "vscode-languageclient/node";

let client: LanguageClient | undefined;

/** The server command: the setting, else a csnc checkout in the workspace, else `csnc`. */
function serverCommand(): { command: string; args: string[] } {
  const configured = workspace.getConfiguration("csn").get<string[]>("server.command") ?? [];
  if (configured.length > 0) return { command: configured[0]!, args: configured.slice(1) };
  for (const folder of workspace.workspaceFolders ?? []) {
    const bin = path.join(folder.uri.fsPath, "dist", "cli", "bin.js");
    if (existsSync(bin)) return { command: process.execPath, args: [bin] };
  }
  return { command: "csnc", args: [] };
}

export async function activate(context: ExtensionContext): Promise<void> {
  const { command, args } = serverCommand();
  const run = { command, args: [...args, "lsp", "--stdio"] };
  const serverOptions: ServerOptions = { run, debug: run };
  client = new LanguageClient("csn", "CSN (csnc)", serverOptions, {
    documentSelector: [{ scheme: "file", language: "csn" }],
    synchronize: { fileEvents: workspace.createFileSystemWatcher("**/*.csn") },
  });
  context.subscriptions.push({ dispose: () => void client?.stop() });
  await client.start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
