import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "grammar/**/*.test.ts",
      "compiler/**/*.test.ts",
      "runtime/**/*.test.ts",
      "test/**/*.test.ts",
    ],
    // A bare machine starts with an empty Mesa shader cache, and llvmpipe compiles each kernel
    // on its first dispatch: the heaviest tests (a model on both CPU adapters against ONNX
    // Runtime) then take about two minutes on two cores, against seconds once cached.
    testTimeout: 180_000,
  },
});
