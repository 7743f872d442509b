#!/usr/bin/env node
// The package mirror these machines use lacks some optional, platform-specific builds (rollup, msgpackr-extract
// and the like for other OSes and CPUs). `npm install` then leaves them out of package-lock.json, and `npm ci`
// refuses a lock whose optional dependencies have no entry. This adds an entry for each such package, with the
// os/cpu/libc its name implies, so npm ci skips it on other platforms exactly as it would with the full lock.
// Run after any `npm install` that changes the lock: node scripts/lock-platform-stubs.mjs
import { readFileSync, writeFileSync } from "node:fs"

const file = new URL("../package-lock.json", import.meta.url)
const lock = JSON.parse(readFileSync(file, "utf8"))
const OS = ["darwin", "win32", "android", "freebsd", "openbsd", "openharmony", "linux", "sunos", "aix", "netbsd"]
const CPU = [
  ["arm64", "arm64"],
  ["aarch64", "arm64"],
  ["x64", "x64"],
  ["ia32", "ia32"],
  ["loong64", "loong64"],
  ["ppc64", "ppc64"],
  ["riscv64", "riscv64"],
  ["s390x", "s390x"],
  ["arm", "arm"],
]

let added = 0
for (const [path, pkg] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const base = path === "" ? "" : `${path}/`
    if (lock.packages[`${base}node_modules/${name}`] || lock.packages[`node_modules/${name}`]) continue
    const os = OS.find((o) => name.includes(o))
    const cpu = CPU.find(([k]) => new RegExp(`[-_]${k}(?![a-z0-9])`).test(name))?.[1]
    if (os === undefined || cpu === undefined)
      throw new Error(`cannot tell the platform of ${name}; add its entry by hand`)
    const entry = { version, optional: true, os: [os], cpu: [cpu] }
    if (/musl/.test(name)) entry.libc = ["musl"]
    else if (os === "linux" && /gnu/.test(name)) entry.libc = ["glibc"]
    if (pkg.dev) entry.dev = true
    lock.packages[`node_modules/${name}`] = entry
    added++
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a.localeCompare(b))),
)
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`)
console.log(`lock-platform-stubs: added ${added} platform entries`)
