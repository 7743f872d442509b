import { readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"

/** shared/fixtures beside the repository, as CI lays it out. */
export const fixturesDir = fileURLToPath(new URL("../../../shared/fixtures/", import.meta.url))

export const fixtureLines = (file: string): Array<string> =>
  readFileSync(`${fixturesDir}${file}`, "utf8")
    .split("\n")
    .filter((l) => l.length > 0)

/** The `.meta.tsv` beside a recording: receive time and session per line. */
export const fixtureMeta = (file: string): Array<{ recvTs: number; source: string }> =>
  fixtureLines(file.replace(/\.jsonl$/, ".meta.tsv"))
    .slice(1)
    .map((l) => {
      const [, recv, source] = l.split("\t")
      return { recvTs: Math.round(Number(recv) * 1000), source: source! }
    })

export interface RecordedAggTrade {
  readonly s: string
  readonly a: number
  readonly p: string
  readonly q: string
  readonly f: number
  readonly l: number
  readonly T: number
  readonly m: boolean
}

export const recordedAggTrades = (): Array<RecordedAggTrade> =>
  fixtureLines("binance/aggTrade.jsonl").map((l) => (JSON.parse(l) as { data: RecordedAggTrade }).data)
