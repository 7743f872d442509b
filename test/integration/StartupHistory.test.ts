import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTrades } from "../../src/replay/Synthetic.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { klineRows } from "../support/archive.js"
import { expectCandlesMatch, expectedFinals, type Sent, sentOf, untilStoredComplete } from "../support/candles.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"
import { scrape, total } from "../support/prometheus.js"
import type { RefTrade } from "../support/reference.js"

const GRACE_MS = 2_000

describe("history loaded at start-up", () => {
  const db = scratchDatabase("first_start")
  const dirs: Array<string> = []
  beforeAll(() => db.start())
  afterAll(async () => {
    await db.stop()
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  it("HISTORY_DAYS on a first start: loads the history before going live; history and live meet at one trade id, each trade counted once", async () => {
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
      // The tape starts once the history is in, which takes longer on a machine the rest of the suite keeps busy.
      await until("the live tape played", () => venue.done, 150_000)
      await untilStoredComplete(url, [...expectedFinals(sent, GRACE_MS)])
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
  }, 240_000)

  it("a restart after a downtime longer than the repair horizon loads the downtime from REST history first: every candle complete and equal, none refused as too late", async () => {
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const url = await db.create()
    const venue = server.venue("binance")
    const env = {
      FEEDS: "binance",
      BINANCE_SYMBOLS: "BTC/USDT,ETH/USDT",
      BINANCE_WS_URL: server.url("binance"),
      BINANCE_REST_URL: server.restUrl("binance"),
      BINANCE_TRADE_STREAM: "aggTrade",
      DATABASE_URL: url,
      HTTP_PORT: String(httpPort),
      CANDLE_GRACE_MS: String(GRACE_MS),
      STORE_FLUSH_MS: "100",
      // Shortened: 1m candles only, a 30 s amend horizon and a 90 s repair horizon against a 150 s downtime.
      TIMEFRAMES: "1m",
      CANDLE_AMEND_HORIZON_MS: "30000",
      CANDLE_REPAIR_HORIZON_MS: "90000",
    }
    let daemon = startDaemon(env, process.cwd())
    try {
      await until("the daemon to subscribe", () => venue.readyClients() > 0, 30_000)
      // Four minutes of trades in exchange time that keeps to the clock, as a live exchange's does.
      const spec = { symbols: ["BTC/USDT", "ETH/USDT"], rate: 10, count: 2_400, start: Date.now(), seed: 31 }
      const sent = sentOf("binance", spec)
      server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 1 }, hold: false })
      // A restart resumes from the newest final candle. Without one (a run that ended before its first minute
      // closed) it starts fresh, which is ColdStart.test.ts's case; so this run lasts 45 s and until each symbol
      // has one, whatever the second the test started at.
      const started = Date.now()
      await until(
        "a final complete candle of each symbol",
        async () => {
          const stored = await storedCandles(url)
          return spec.symbols.every((s) => stored.some((c) => c.symbol === s && c.is_final && c.complete))
        },
        90_000,
      )
      await new Promise((r) => setTimeout(r, Math.max(0, 45_000 - (Date.now() - started))))
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
      await new Promise((r) => setTimeout(r, 150_000))
      daemon = startDaemon(env, process.cwd())
      await until("the tape to end", () => venue.done, 120_000)
      await untilStoredComplete(
        url,
        [...expectedFinals(sent, GRACE_MS)].filter((k) => k.includes(" 1m ")),
      )
      const samples = await scrape(httpPort)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
      expect(daemon.output()).toMatch(
        /binance BTC\/USDT: down since \S+, longer than CANDLE_REPAIR_HORIZON_MS; loading/,
      )
      expect(daemon.output()).toMatch(/binance ETH\/USDT: [1-9]\d+ trade\(s\) of history loaded/)
      expect(total(samples, "trades_discarded_total", { reason: "too_late" })).toBe(0)
      expectCandlesMatch(await storedCandles(url), sent, GRACE_MS, { openMayBeMissing: true, timeframes: ["1m"] })
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 420_000)
})
