#!/usr/bin/env node
// The indicator tests compare with TA-Lib itself through the `talib` addon, kept in a package of its own
// (tools/talib) because its install script fails here: it links the macOS objects it ships, and a failing install
// script would fail the project's `npm ci`. This runs from the project's postinstall: it installs tools/talib's locked
// packages without their scripts, then, when `require("talib")` fails, drops the shipped objects and builds TA-Lib
// and the addon from source (about a minute on two cores). A production install (--omit=dev) skips it.
// See ../shared/TALIB.md.
import { execFileSync } from "node:child_process"
import { existsSync, readdirSync, rmSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"

const require = createRequire(import.meta.url)
const root = new URL("..", import.meta.url).pathname
const tools = join(root, "tools", "talib")
const dir = join(tools, "node_modules", "talib")

const loads = () => {
  try {
    require(dir)
    return true
  } catch {
    return false
  }
}

if ((process.env.npm_config_omit ?? "").includes("dev") || process.env.NODE_ENV === "production") process.exit(0)
if (!existsSync(dir))
  execFileSync("npm", ["ci", "--ignore-scripts", "--no-audit", "--no-fund"], { cwd: tools, stdio: "inherit" })
if (loads()) process.exit(0)

console.log("build-talib: building TA-Lib and the talib addon from source (the indicator tests' reference)")
const removeAll = (path, keep) => {
  for (const entry of readdirSync(path, { withFileTypes: true })) {
    const full = join(path, entry.name)
    if (entry.isDirectory()) removeAll(full, keep)
    else if (!keep(entry.name)) rmSync(full)
  }
}
removeAll(join(dir, "src", "lib", "temp"), (name) => !name.endsWith(".o"))
removeAll(join(dir, "src", "lib", "lib"), (name) => !name.endsWith(".a"))
// Through npm, so that node-gyp uses npm's nodedir (the local headers) instead of downloading them.
execFileSync("npm", ["run", "install"], { cwd: dir, stdio: "inherit" })
if (!loads()) {
  console.error("build-talib: the talib addon still does not load; the indicator tests need it (../shared/TALIB.md)")
  process.exit(1)
}
