// The demo's static server: node examples/browser/serve.mjs [port]. Serves the page, the
// bundled app (dist/demo/app.js, made by `npm run build`), the .csn files of models/ and the
// Kinetics-400 class names.
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const types = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".css": "text/css",
  ".csn": "text/plain",
  ".txt": "text/plain",
};

function modelFiles(dir = path.join(root, "models"), prefix = "models") {
  const out = {};
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) Object.assign(out, modelFiles(full, `${prefix}/${name}`));
    else if (name.endsWith(".csn")) out[`${prefix}/${name}`] = readFileSync(full, "utf8");
  }
  return out;
}

export function createDemoServer() {
  return createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? "/").split("?")[0]);
    if (url === "/api/models") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(modelFiles()));
      return;
    }
    const file =
      url === "/"
        ? path.join(root, "examples/browser/index.html")
        : url === "/app.js"
          ? path.join(root, "dist/demo/app.js")
          : url === "/labels/kinetics400.txt"
            ? path.join(root, "runtime/labels/kinetics400.txt")
            : path.join(root, "examples/browser", url);
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res
        .writeHead(404)
        .end(url === "/app.js" ? "dist/demo/app.js is missing: run npm run build" : "not found");
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.argv[2] ?? 8080);
  createDemoServer().listen(port, "127.0.0.1", () =>
    console.log(`csnc demo on http://127.0.0.1:${port}/ (open it in a browser with WebGPU)`),
  );
}
