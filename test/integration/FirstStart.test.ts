import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTrades } from "../../src/replay/Synthetic.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { klineRows } from "../support/archive.js"
import { expectCandlesMatch, expectedFinals, type Sent } from "../support/candles.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"
import type { RefTrade } from "../support/reference.js"

const GRACE_MS = 2_000

describe("HISTORY_DAYS on a first start", () => {
  const db = scratchDatabase("first_start")
  const dirs: Array<string> = []
  beforeAll(() => db.start())
  afterAll(async () => {
    await db.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it("loads the history before going live; history and live meet at one trade id, each trade counted once", async () => {
    const server = await ReplayServer.start()
    const now = Date.now()
    // Two hours of trades before the start, one every 4 s, only in the exchange's REST history (and its klines).
    const past = syntheticTrades({
      symbols: ["BTC/USDT"],
      rate: 0.25,
      count: 1_800,
      start: now - 2 * 3_600_000 - 5_000,
      seed: 21,
      firstId: 1,
    })
    const live = { symbols: ["BTC/USDT"], rate: 10, count: 300, start: now + 10_000, seed: 22, firstId: 1_801 }
    const refOf = (t: (typeof past)[number]): RefTrade => ({ ...t, count: 1 })
    const venue = server.venue("binance")
    venue.ledger.records.set(
      "aggTrades:BTCUSDT",
      past.map((t) => ({ a: t.id, p: t.price, q: t.qty, f: t.id, l: t.id, T: t.ts, m: !t.takerBuy, M: true })),
    )
    venue.ledger.klines.set(
      "BTCUSDT",
      klineRows(past.map((t) => ({ ...refOf(t), symbol: t.symbol }))).map((k) =>
        k.map((v, i) => (i === 0 || i === 6 || i === 8 ? Number(v) : v)),
      ),
    )
    // The live stream continues the ids; it plays once the daemon has subscribed.
    server.play("binance", syntheticTape(live), { pace: { mode: "paced", speed: 1 } })
    const sent: Sent = {
      exchange: "binance",
      trades: new Map([["BTC/USDT", [...past, ...syntheticTrades(live)].map(refOf)]]),
    }
    const httpPort = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), "ingest-first-start-"))
    dirs.push(dataDir)
    const url = await db.create()
    const daemon = startDaemon(
      {
        FEEDS: "binance",
        BINANCE_SYMBOLS: "BTC/USDT",
        BINANCE_WS_URL: server.url("binance"),
        BINANCE_REST_URL: server.restUrl("binance"),
        BINANCE_TRADE_STREAM: "aggTrade",
        HISTORY_DAYS: "1",
        DATABASE_URL: url,
        HTTP_PORT: String(httpPort),
        DATA_DIR: dataDir,
        CANDLE_GRACE_MS: String(GRACE_MS),
        STORE_FLUSH_MS: "100",
        RECONCILE_INTERVAL_MS: "0",
        // The live tape's times are set ahead of the start; they arrive on time, not early.
        TRADE_FUTURE_TOLERANCE_MS: "600000",
      },
      process.cwd(),
    )
    try {
      await until("the live tape played", () => venue.done, 90_000)
      const finals = expectedFinals(sent, GRACE_MS)
      await until(
        "every final candle stored complete",
        async () => {
          const stored = await storedCandles(url)
          const done = new Set(
            stored.filter((c) => c.is_final && c.complete).map((c) => `${c.symbol} ${c.timeframe} ${c.timestamp}`),
          )
          return [...finals].every((k) => done.has(k))
        },
        60_000,
      )
      // The history ends a couple of grace periods before the start; the last few trades before it come by id.
      const loaded = /binance BTC\/USDT: (\d+) trade\(s\) of history loaded; 0 1m candle\(s\) differ/.exec(
        daemon.output(),
      )
      expect(Number(loaded?.[1])).toBeGreaterThan(1_750)
      // Every candle, the seam's minute among them, equals the reference over history and live trades together: a
      // trade counted twice, or missed at the seam, would show in its candle's trades and volume.
      expectCandlesMatch(await storedCandles(url), sent, GRACE_MS, { openMayBeMissing: true })
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 180_000)
})
