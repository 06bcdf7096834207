// The adapter choices of `csnc run --backend` and of a generated module's `load({ backend })`:
// written once, here, where both the Node adapter code and the portable module runtime can
// import them (this file imports nothing), with where their Vulkan drivers are looked for.

export type Backend = "auto" | "gpu" | "vulkan" | "swiftshader" | "opengles" | "llvmpipe";

export const backends: readonly Backend[] = [
  "auto",
  "gpu",
  "vulkan",
  "swiftshader",
  "opengles",
  "llvmpipe",
];

/** SwiftShader's Vulkan driver, as Debian's chromium ships it. */
export const swiftshaderIcd = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** Where the Vulkan loader finds installed drivers (GPU ones among them). */
export const icdDirs: readonly string[] = [
  "/usr/share/vulkan/icd.d",
  "/etc/vulkan/icd.d",
  "/usr/local/share/vulkan/icd.d",
  "/usr/local/nvidia/share/vulkan/icd.d",
];
