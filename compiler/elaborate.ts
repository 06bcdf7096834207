// Elaboration lives in compiler/elaborate/; this name stays for its importers.
export { elaborate, type ElaborateOptions } from "./elaborate/index.js";
