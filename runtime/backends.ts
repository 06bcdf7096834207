// The adapter choices of `csnc run --backend` and of a generated module's `load({ backend })`:
// written once, here, where both the Node adapter code and the portable module runtime can
// import them (this file imports nothing).

export type Backend = "auto" | "gpu" | "vulkan" | "swiftshader" | "opengles" | "llvmpipe";

export const backends: readonly Backend[] = [
  "auto",
  "gpu",
  "vulkan",
  "swiftshader",
  "opengles",
  "llvmpipe",
];
