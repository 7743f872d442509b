import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { periodMs, type Timeframe } from "../../src/schema/Candle.js"
import type { ExchangeId } from "../../src/schema/Market.js"
import { expectCandlesMatch, expectedFinals, finalsOverHttp, type Sent, sentOf } from "../support/candles.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"

const GRACE_MS = 2_000
const SYMBOLS = ["BTC/USDT", "ETH/USDT"]

/**
 * The tape starts on a minute boundary and plays at 4× (or `speed`) with nobody connected, into the exchange's
 * history; the daemon starts 10 s later (or `startAfterMs`), 40 s into the first minute at 4×, so that minute's
 * first trades reach it only by REST. `killed`: the daemon is killed (-9) once it has taken trades, and started again.
 */
const coldStart = async (
  exchange: ExchangeId,
  url: string,
  seed: number,
  options: {
    readonly startAfterMs?: number
    readonly killed?: boolean
    readonly speed?: number
    readonly count?: number
  } = {},
) => {
  const server = await ReplayServer.start()
  const httpPort = await freePort()
  const spec = {
    symbols: SYMBOLS,
    rate: 10,
    count: options.count ?? 2_400,
    start: Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000,
    seed,
  }
  const sent = sentOf(exchange, spec)
  server.play(exchange, syntheticTape(spec), { pace: { mode: "paced", speed: options.speed ?? 4 }, hold: false })
  await new Promise((r) => setTimeout(r, options.startAfterMs ?? 10_000))
  const E = exchange.toUpperCase()
  const env = {
    FEEDS: exchange,
    [`${E}_SYMBOLS`]: SYMBOLS.join(","),
    [`${E}_WS_URL`]: server.url(exchange),
    [`${E}_REST_URL`]: server.restUrl(exchange),
    DATABASE_URL: url,
    HTTP_PORT: String(httpPort),
    CANDLE_GRACE_MS: String(GRACE_MS),
    STORE_FLUSH_MS: "100",
  }
  let daemon = startDaemon(env, process.cwd())
  const venue = server.venue(exchange)
  try {
    if (options.killed === true) {
      await until(
        "the first trades taken",
        async () => (await metric(httpPort, "trades_received_total", `exchange="${exchange}"`).catch(() => 0)) > 0,
        30_000,
      )
      daemon.process.kill("SIGKILL")
      await daemon.exit
      daemon = startDaemon(env, process.cwd())
    }
    await until("the tape to end", () => venue.done, 90_000)
    return { sent, daemon, httpPort, stop: () => server.close() }
  } catch (e) {
    daemon.process.kill("SIGKILL")
    await server.close()
    throw e
  }
}

const allFinalsStored = (httpPort: number, sent: Sent) =>
  until(
    "every final candle stored",
    async () => {
      const got = await finalsOverHttp(httpPort, sent).catch(() => new Set<string>())
      return [...expectedFinals(sent, GRACE_MS)].every((k) => got.has(k))
    },
    60_000,
  )

describe("a fresh start in the middle of a minute", () => {
  const db = scratchDatabase("ingest_cold_start")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it.concurrent(
    "binance: the first minute and the open candles are filled by time from REST, complete and equal to the reference over their whole periods",
    async () => {
      const url = await db.create()
      const run = await coldStart("binance", url, 21)
      try {
        await allFinalsStored(run.httpPort, run.sent)
        await until("no gap left to fill", async () => {
          const res = await fetch(`http://127.0.0.1:${run.httpPort}/api/status`)
          const body = (await res.json()) as {
            feeds: Array<{ symbols: Array<{ backfill: { unfilledGaps: number } }> }>
          }
          return body.feeds.every((f) => f.symbols.every((s) => s.backfill.unfilledGaps === 0))
        })
        run.daemon.process.kill("SIGTERM")
        expect(await run.daemon.exit).toBe(0)
        expectCandlesMatch(await storedCandles(url), run.sent, GRACE_MS)
        expect(run.daemon.output()).toMatch(/filling its open candles from/)
        expect(run.daemon.output()).toMatch(/backfilled [1-9]\d* trade\(s\) from REST history/)
      } finally {
        run.daemon.process.kill("SIGKILL")
        await run.stop()
      }
    },
    180_000,
  )

  it.concurrent(
    "binance, killed (-9) before its first candle is final and started again: the restart fills the open candles by time again, and every candle is complete and equal",
    async () => {
      const url = await db.create()
      // At the tape's own pace the first minute lasts a minute: the kill, seconds after the start, comes well before
      // its candle is final.
      const run = await coldStart("binance", url, 23, { startAfterMs: 10_000, killed: true, speed: 1, count: 800 })
      try {
        await allFinalsStored(run.httpPort, run.sent)
        run.daemon.process.kill("SIGTERM")
        expect(await run.daemon.exit).toBe(0)
        expectCandlesMatch(await storedCandles(url), run.sent, GRACE_MS)
        // Nothing was final when it died: the restart had no point to resume from, so it started fresh.
        expect(run.daemon.output()).not.toMatch(/resuming after trade/)
        expect(run.daemon.output()).toMatch(/filling its open candles from/)
      } finally {
        run.daemon.process.kill("SIGKILL")
        await run.stop()
      }
    },
    180_000,
  )

  it.concurrent(
    "bybit (no trade history): the first minute and the candles open then are stored incomplete, the rest complete and equal",
    async () => {
      const url = await db.create()
      const run = await coldStart("bybit", url, 22)
      try {
        // Without history nothing before the first trade the daemon received can be stored; on a busy machine the
        // daemon may start later than planned, so its first minute is where the candles begin.
        await until(
          "every final candle from the first received minute on stored",
          async () => {
            const got = await finalsOverHttp(run.httpPort, run.sent).catch(() => new Set<string>())
            const firstMinute = (symbol: string) =>
              Math.min(...[...got].filter((k) => k.startsWith(`${symbol} 1m `)).map((k) => Number(k.split(" ")[2])))
            if (!SYMBOLS.every((s) => Number.isFinite(firstMinute(s)))) return false
            return [...expectedFinals(run.sent, GRACE_MS)].every((k) => {
              const [symbol, tf, open] = k.split(" ") as [string, Timeframe, string]
              return Number(open) + periodMs(tf) <= firstMinute(symbol) || got.has(k)
            })
          },
          60_000,
        )
        run.daemon.process.kill("SIGTERM")
        expect(await run.daemon.exit).toBe(0)
        expect(run.daemon.output()).toMatch(/marked incomplete \(this venue has no trade history to fill them from\)/)
        const stored = await storedCandles(url)
        for (const symbol of SYMBOLS) {
          const rows = stored.filter((c) => c.symbol === symbol)
          const first = Math.min(...rows.filter((c) => c.timeframe === "1m").map((c) => c.timestamp))
          const cold = rows.filter((c) => c.timestamp <= first && first <= c.close_time)
          expect(cold.map((c) => c.timeframe).sort()).toEqual(
            rows
              .filter((c) => c.timestamp <= first)
              .map((c) => c.timeframe)
              .sort(),
          )
          expect(cold.length).toBeGreaterThanOrEqual(5)
          for (const c of cold) expect(c.complete, `${symbol} ${c.timeframe} ${c.timestamp}`).toBe(false)
          // Every minute after the first is whole, and equals the reference.
          const later = rows.filter((c) => c.timeframe === "1m" && c.timestamp > first)
          expect(later.length).toBeGreaterThanOrEqual(2)
          const trades = run.sent.trades.get(symbol)!.filter((t) => t.ts >= first + 60_000)
          expectCandlesMatch(later, { exchange: "bybit", trades: new Map([[symbol, trades]]) }, GRACE_MS, {
            openMayBeMissing: true,
            timeframes: ["1m"],
            coldStartUnfilled: false,
          })
        }
      } finally {
        run.daemon.process.kill("SIGKILL")
        await run.stop()
      }
    },
    180_000,
  )
})
