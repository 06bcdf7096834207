// Lint rules: the recommended TypeScript set; formatting is prettier's job. The folders are
// layers (grammar < compiler < runtime < cli < bench, examples): no import runs up them, and
// the portable runtime (what browsers and generated modules load) imports no `node:` module
// statically. test/architecture.test.ts checks the same, and for cycles.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

const above = {
  grammar: ["compiler", "runtime", "cli", "bench", "examples", "editors"],
  compiler: ["runtime", "cli", "bench", "examples", "editors"],
  runtime: ["cli", "bench", "examples", "editors"],
  cli: ["bench", "examples", "editors"],
};

const layerRules = Object.entries(above).map(([folder, higher]) => ({
  files: [`${folder}/**/*.ts`],
  ignores: ["**/*.test.ts"],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          {
            group: higher.map((h) => `**/${h}/**`),
            message: `${folder}/ sits below ${higher.join(", ")}: imports run down the layers only`,
          },
        ],
      },
    ],
  },
}));

/** Files a browser loads: the portable session, the browser API and the module runtime. */
const portable = [
  "runtime/session.ts",
  "runtime/plan-session.ts",
  "runtime/browser.ts",
  "runtime/index-browser.ts",
  "runtime/adapter-node.ts",
  "runtime/module/**/*.ts",
];

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "node_modules/",
      "coverage/",
      "dbg*.ts",
      "test/.generated/",
      "editors/vscode/out/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain JavaScript examples run in Node.
    files: ["**/*.mjs"],
    languageOptions: { globals: { process: "readonly", console: "readonly" } },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
  ...layerRules,
  {
    files: portable,
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["**/cli/**", "**/bench/**", "**/examples/**"],
              message: "runtime/ sits below them",
            },
            {
              group: ["node:*"],
              message:
                "portable code reaches Node only through dynamic imports behind an isNode check",
            },
          ],
        },
      ],
    },
  },
  {
    // The library never prints or exits: only cli/ (and benches, examples) talk to the process.
    files: ["grammar/**/*.ts", "compiler/**/*.ts", "runtime/**/*.ts"],
    ignores: ["**/*.test.ts"],
    rules: {
      "no-console": "error",
      "no-restricted-properties": [
        "error",
        { object: "process", property: "exit", message: "the library never exits" },
        { object: "process", property: "stdout", message: "the library never prints" },
        { object: "process", property: "stderr", message: "the library never prints" },
      ],
    },
  },
);
