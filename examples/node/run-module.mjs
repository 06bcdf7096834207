// Runs a model compiled with `csnc compile ... --emit module -o build/ir-csn-50` on a clip from a
// .safetensors file and prints the top-5 classes. Only the generated module is used.
//   node examples/node/run-module.mjs build/ir-csn-50 weights.safetensors clip.safetensors [vmz]
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [dir, weights, clipFile, naming = "csnc"] = process.argv.slice(2);
const { load, info } = await import(pathToFileURL(`${dir}/index.js`).href);
const bytes = readFileSync(clipFile);
const headerLength = Number(bytes.readBigUInt64LE(0));
const entry = JSON.parse(bytes.subarray(8, 8 + headerLength).toString()).input;
const start = 8 + headerLength + entry.data_offsets[0];
const clip = new Float32Array(
  bytes.buffer.slice(
    bytes.byteOffset + start,
    bytes.byteOffset + start + 4 * entry.shape.reduce((a, b) => a * b),
  ),
);
const model = await load({ weights, naming });
const { top } = await model.run(clip);
console.log(
  `${info.model} on ${model.info.adapter}:`,
  top.map((t) => t.map((c) => `${c.class} (${c.probability.toFixed(4)})`).join(" ")),
);
model.destroy();
