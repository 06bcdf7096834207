// Runs a model compiled with `csnc compile ... --emit module` and prints the top-5 classes.
// Only the generated module is used. The simplest first try, from the csnc folder:
//   npm run --silent csnc -- compile models/ir-csn-50.csn --input 3x8x112x112 --emit module -o out/ir-csn-50
//   npm run --silent csnc -- weights random models/ir-csn-50.csn -o out/ir-csn-50-random.safetensors
//   node examples/node/run-module.mjs out/ir-csn-50 out/ir-csn-50-random.safetensors
// Usage: node run-module.mjs DIR [WEIGHTS|random] [CLIP.safetensors] [--naming auto|csnc|vmz|mmaction2|pytorchvideo]
//        [--backend auto|gpu|vulkan|swiftshader|opengles]
// WEIGHTS: .safetensors or a PyTorch checkpoint; "random" (or none): He-normal random weights.
// CLIP: a .safetensors file holding `input` (N x 3 x T x H x W, as compiled); none: a random clip.
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
const flags = {};
const positional = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith("--")) flags[args[i].slice(2)] = args[++i];
  else positional.push(args[i]);
}
const [dir, weights = "random", clipFile] = positional;
const fail = (message) => {
  console.error(`error: ${message}`);
  process.exit(1);
};
if (!dir) fail("usage: node run-module.mjs DIR [WEIGHTS|random] [CLIP.safetensors]");
const entry = path.resolve(dir, "index.js");
if (!existsSync(entry))
  fail(`no generated module at ${entry}: run csnc compile MODEL.csn --emit module -o ${dir}`);

/** The `input` tensor of a .safetensors file. */
function readClip(file) {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const t = JSON.parse(bytes.subarray(8, 8 + headerLength).toString()).input;
  if (t?.dtype !== "F32") fail(`${file} has no float32 tensor 'input'`);
  const start = bytes.byteOffset + 8 + headerLength + t.data_offsets[0];
  return new Float32Array(
    bytes.buffer.slice(start, bytes.byteOffset + 8 + headerLength + t.data_offsets[1]),
  );
}

/** A deterministic clip in [-1, 1) of the compiled shape. */
function randomClip(shape) {
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  let s = 2654435761; // as csnc run --seed 1
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2147483648 - 1;
  }
  return out;
}

try {
  const { load, info } = await import(pathToFileURL(entry).href);
  const clip = clipFile ? readClip(clipFile) : randomClip(info.input);
  const model = await load({
    ...(weights === "random" ? { randomWeights: true } : { weights }),
    naming: flags.naming ?? "auto",
    backend: flags.backend ?? "auto",
  });
  const { top } = await model.run(clip);
  console.log(
    `${info.model} on ${model.info.backend} (${model.info.adapter}), ${weights === "random" ? "random" : model.info.naming} weights`,
  );
  top.forEach((t, i) =>
    console.log(
      `sample ${i}: ${t.map((c) => `${c.class} (${c.probability.toFixed(4)})`).join("  ")}`,
    ),
  );
  model.destroy();
} catch (e) {
  // The module's own errors say what to do; anything else is a bug worth its stack.
  if (e?.name === "CsncError") fail(e.message);
  throw e;
}
