import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { expectCandlesMatch, sentOf } from "../support/candles.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"

const GRACE_MS = 1_000

/** A daemon on `server`'s Binance, writing to `url`, with a data directory of its own. */
const collector = async (server: ReplayServer, url: string, symbols: ReadonlyArray<string>) => {
  const dataDir = mkdtempSync(join(tmpdir(), "ingest-redundant-"))
  const daemon = startDaemon(
    {
      FEEDS: "binance",
      BINANCE_SYMBOLS: symbols.join(","),
      BINANCE_WS_URL: server.url("binance"),
      BINANCE_REST_URL: server.restUrl("binance"),
      DATABASE_URL: url,
      HTTP_PORT: String(await freePort()),
      DATA_DIR: dataDir,
      CANDLE_GRACE_MS: String(GRACE_MS),
      RECONCILE_INTERVAL_MS: "0",
      STORE_FLUSH_MS: "100",
    },
    process.cwd(),
  )
  return { daemon, dataDir }
}

describe("redundant collectors: two daemons ingest the same symbols into one store", () => {
  const db = scratchDatabase("ingest_redundant")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it("one suffers a withheld-trades gap its REST cannot fill and writes later: every stored candle is complete and equals the reference", async () => {
    const url = await db.create()
    const spec = {
      symbols: ["BTC/USDT", "ETH/USDT"],
      rate: 40,
      count: 8_000,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 4 * 60_000,
      seed: 31,
    }
    const sent = sentOf("binance", spec)
    const good = await ReplayServer.start()
    const gapped = await ReplayServer.start()
    // The same tape at both exchanges' ends; the gapped collector sees it at half the pace, so that its candles
    // reach the store after the good one's and would overwrite them if an incomplete candle could.
    good.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 8 } })
    gapped.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 4 } })
    const venue = gapped.venue("binance")
    venue.restDown = true
    const a = await collector(good, url, spec.symbols)
    const b = await collector(gapped, url, spec.symbols)
    try {
      await until("a third of the gapped tape", () => venue.sent > (spec.count * 2) / 3, 60_000)
      venue.withhold(40)
      await until("both tapes played out", () => good.venue("binance").done && venue.done, 120_000)
      // Both flush at shutdown: the gapped collector's last candles are written after the good one's.
      for (const { daemon } of [a, b]) daemon.process.kill("SIGTERM")
      for (const { daemon } of [a, b]) expect(await daemon.exit).toBe(0)
      expect(b.daemon.output()).toMatch(/trade\(s\) missing/)

      const stored = await storedCandles(url)
      expect(stored.filter((c) => !c.complete && c.is_final)).toEqual([])
      expectCandlesMatch(stored, sent, GRACE_MS, { coldStartUnfilled: false, openMayBeMissing: true })
    } finally {
      for (const { daemon, dataDir } of [a, b]) {
        daemon.process.kill("SIGKILL")
        rmSync(dataDir, { recursive: true, force: true })
      }
      await good.close()
      await gapped.close()
    }
  }, 240_000)
})
