import js from "@eslint/js"
import tseslint from "typescript-eslint"

// These packages' index modules load every module they hold; @effect/platform's alone carries the Swagger and Scalar
// UI bundles, about 20 MB of strings on the heap of a daemon that serves neither.
const effectIndexes = [
  "@effect/platform",
  "@effect/platform-node",
  "@effect/sql",
  "@effect/sql-pg",
  "@effect/opentelemetry",
].map((name) => ({ name, message: `import the module itself, e.g. "${name}/<Module>"` }))

/** The rooms of src/ and what each may not import (ARCHITECTURE.md); each room keeps the Effect index rule too. */
const room = (files, forbidden, why) => ({
  files,
  rules: {
    "no-restricted-imports": [
      "error",
      {
        paths: effectIndexes,
        patterns: [{ group: forbidden.flatMap((dir) => [`**/${dir}/*`, `**/${dir}/**`]), message: why }],
      },
    ],
  },
})

export default tseslint.config(
  { ignores: ["dist/", ".bench-build/", "node_modules/", "data/", "coverage/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Plain JavaScript here is Node scripts; TypeScript files get these from @types/node.
    files: ["**/*.{js,mjs}"],
    languageOptions: { globals: { console: "readonly", process: "readonly", URL: "readonly" } },
  },
  {
    rules: {
      // Effect.gen bodies legitimately loop forever and some only yield on one branch.
      "no-constant-condition": ["error", { checkLoops: false }],
      "require-yield": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": ["error", { paths: effectIndexes }],
    },
  },
  room(
    ["src/schema/**"],
    ["domain", "exchanges", "actors", "layers", "replay"],
    "schema/ describes data: it imports only effect",
  ),
  room(
    ["src/domain/**"],
    ["exchanges", "actors", "layers", "replay"],
    "domain/ is the pure core: it imports schema/ and itself, never exchanges, services, actors or the replay exchange",
  ),
  room(
    ["src/exchanges/**"],
    ["actors", "layers", "replay"],
    "exchanges/ are pure: each exchange's folder imports domain/, schema/ and exchanges/ only",
  ),
  room(["src/layers/**"], ["actors", "replay"], "layers/ are services actors build on: they never import actors"),
  room(["src/actors/**"], ["replay"], "the daemon never imports the replay exchange"),
  room(
    ["src/replay/**"],
    ["actors", "layers"],
    "the replay exchange serves the protocols of exchanges/: it imports exchanges/, domain/ and schema/ only",
  ),
)
