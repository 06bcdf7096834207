// Mean softmax cross-entropy over the batch and its gradient (softmax - onehot) / N, with the
// count of correct predictions (the first maximum, as argmax does) for the progress line, and
// loss[2] set where a logit or the loss is not finite.
import type { TrainKernel } from "../program.js";
import { f32, nonFinite, single } from "./wgsl.js";

export function softmaxCrossEntropy(n: number, classes: number): TrainKernel {
  const k = classes;
  return single(
    {
      name: "softmax-cross-entropy",
      shape: `${n}x${k}`,
      binds: [
        { name: "logits" },
        { name: "labels", type: "u32" },
        { name: "loss", write: true },
        { name: "dlogits", write: true },
      ],
    },
    `var total = 0.0;
  var correct = 0u;
  var bad = false;
  for (var b = 0u; b < ${n}u; b = b + 1u) {
    let row = b * ${k}u;
    let label = min(labels[b], ${k - 1}u);
    for (var j = 0u; j < ${k}u; j = j + 1u) { bad = bad || ${nonFinite("logits[row + j]")}; }
    var best = logits[row];
    var arg = 0u;
    for (var j = 1u; j < ${k}u; j = j + 1u) {
      if (logits[row + j] > best) { best = logits[row + j]; arg = j; }
    }
    var sum = 0.0;
    for (var j = 0u; j < ${k}u; j = j + 1u) { sum = sum + exp(logits[row + j] - best); }
    total = total + log(sum) - (logits[row + label] - best);
    if (arg == label) { correct = correct + 1u; }
    for (var j = 0u; j < ${k}u; j = j + 1u) {
      let p = exp(logits[row + j] - best) / sum;
      dlogits[row + j] = (p - select(0.0, 1.0, j == label)) / ${f32(n)};
    }
  }
  loss[0] = total / ${f32(n)};
  loss[1] = f32(correct);
  bad = bad || ${nonFinite("loss[0]")};
  loss[2] = bitcast<f32>(select(0u, 1u, bad));`,
  );
}
