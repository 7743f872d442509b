/**
 * Builds the live page into dist/web: the page's TypeScript and lightweight-charts bundled into one module by
 * esbuild, beside index.html and style.css. The daemon serves these files itself; nothing comes from a CDN.
 */
import { copyFileSync, mkdirSync } from "node:fs"
import { build } from "esbuild"

const out = new URL("../dist/web/", import.meta.url)
mkdirSync(out, { recursive: true })
await build({
  entryPoints: [new URL("../web/src/main.ts", import.meta.url).pathname],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outfile: new URL("app.js", out).pathname,
  logLevel: "warning",
})
for (const file of ["index.html", "style.css"])
  copyFileSync(new URL(`../web/${file}`, import.meta.url), new URL(file, out))
