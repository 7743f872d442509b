import js from "@eslint/js"
import tseslint from "typescript-eslint"

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "data/", "coverage/"] },
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
      // These packages' index modules load every module they hold; @effect/platform's alone carries the Swagger and
      // Scalar UI bundles, about 20 MB of strings on the heap of a daemon that serves neither.
      "no-restricted-imports": [
        "error",
        {
          paths: [
            "@effect/platform",
            "@effect/platform-node",
            "@effect/sql",
            "@effect/sql-pg",
            "@effect/opentelemetry",
          ].map((name) => ({ name, message: `import the module itself, e.g. "${name}/<Module>"` })),
        },
      ],
    },
  },
)
