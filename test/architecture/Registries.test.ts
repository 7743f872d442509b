import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"
import { SINKS } from "../../src/actors/sinks/registry.js"
import { EXCHANGES, SUPPORTED_EXCHANGES } from "../../src/exchanges/registry.js"
import { ExchangeId } from "../../src/schema/Market.js"

const SRC = join(process.cwd(), "src")

const sources = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : path.endsWith(".ts") ? [path] : []
  })

/** Relative imports of a source file, resolved against `src/`. */
const importsOf = (file: string): Array<string> =>
  [...readFileSync(file, "utf8").matchAll(/from\s+"(\.{1,2}\/[^"]+)"/g)].map((m) =>
    relative(SRC, join(file, "..", m[1]!)),
  )

describe("one home per exchange (CONTRIBUTING.md, adding an exchange)", () => {
  it("registers every ExchangeId, and each has its folder with its wire shapes, venue, replay protocol and index", () => {
    expect([...SUPPORTED_EXCHANGES].sort()).toEqual([...ExchangeId.literals].sort())
    for (const id of SUPPORTED_EXCHANGES) {
      expect(EXCHANGES[id].venue.exchange, id).toBe(id)
      expect(EXCHANGES[id].replay.exchange, id).toBe(id)
      for (const file of ["index.ts", "Venue.ts", "Wire.ts", "Replay.ts"])
        expect(existsSync(join(SRC, "exchanges", id, file)), `src/exchanges/${id}/${file}`).toBe(true)
    }
  })

  it("nothing outside src/exchanges/ reaches into an exchange's folder: the registry is the only way in", () => {
    const reaching = sources(SRC)
      .filter((f) => !relative(SRC, f).startsWith("exchanges/"))
      .flatMap((f) =>
        importsOf(f)
          .filter((i) => SUPPORTED_EXCHANGES.some((id) => i.startsWith(`exchanges/${id}/`)))
          .map((i) => `${relative(SRC, f)} imports ${i}`),
      )
    expect(reaching).toEqual([])
  })

  it("no exchange's folder imports another's: each stands alone", () => {
    const crossing = SUPPORTED_EXCHANGES.flatMap((id) =>
      sources(join(SRC, "exchanges", id)).flatMap((f) =>
        importsOf(f)
          .filter((i) => SUPPORTED_EXCHANGES.some((other) => other !== id && i.startsWith(`exchanges/${other}/`)))
          .map((i) => `${relative(SRC, f)} imports ${i}`),
      ),
    )
    expect(crossing).toEqual([])
  })
})

describe("one folder per sink (CONTRIBUTING.md, adding a sink)", () => {
  const folders = readdirSync(join(SRC, "actors", "sinks")).filter((f) =>
    statSync(join(SRC, "actors", "sinks", f)).isDirectory(),
  )

  it("each registered sink has a folder of its own, and every folder is registered", () => {
    expect(folders.sort()).toEqual(SINKS.map((s) => s.name).sort())
  })

  it("the sink runtime and the aggregators never name a sink: only the registry does", () => {
    const runtime = [
      join(SRC, "actors", "sinks", "Sink.ts"),
      join(SRC, "actors", "sinks", "DiskQueue.ts"),
      join(SRC, "actors", "Sinks.ts"),
      ...sources(join(SRC, "actors", "aggregation")),
    ]
    const naming = runtime.flatMap((f) =>
      importsOf(f)
        .filter((i) => folders.some((name) => i.startsWith(`actors/sinks/${name}/`)))
        .map((i) => `${relative(SRC, f)} imports ${i}`),
    )
    expect(naming).toEqual([])
  })
})
