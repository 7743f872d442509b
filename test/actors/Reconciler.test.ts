import { it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import { describe, expect } from "vitest"
import { makeReconciler } from "../../src/actors/feed/Reconciler.js"
import { DueCandles } from "../../src/domain/Reconciliation.js"
import { binanceCandles, binanceInstrument } from "../../src/exchanges/binance/Venue.js"
import { WeightBudget } from "../../src/domain/WeightBudget.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import type { Candle } from "../../src/schema/Candle.js"
import { testPort } from "../support/config.js"

const SYMBOL = "BTC/USDT"

/**
 * Real time: the REST server is another party, answering while the TestClock stands still. A loopback request and
 * its answer are given 500 ms, many times what they take on a loaded machine.
 */
const settle = Effect.promise(() => new Promise((r) => setTimeout(r, 500)))

const candle = (minute: number, close: string): Candle => ({
  exchange: "binance",
  symbol: SYMBOL,
  timeframe: "1m",
  openTime: minute * 60_000,
  closeTime: minute * 60_000 + 59_999,
  open: "1",
  high: "2",
  low: "1",
  close,
  volume: "3",
  quoteVolume: "4.5",
  trades: 2,
  takerBuyBase: "1",
  takerBuyQuote: "1.5",
  vwap: "1.5",
  isFinal: true,
  revision: 0,
  complete: true,
  lastTradeId: String(minute * 2 + 1),
})

/** The exchange's kline of the same minute, as `/api/v3/klines` rows carry it: the close differs in minute 1. */
const kline = (minute: number) => [
  minute * 60_000,
  "1.000",
  "2.000",
  "1.000",
  minute === 1 ? "1.500" : "2.000",
  "3.000",
  minute * 60_000 + 59_999,
  "4.500",
  2,
  "1.000",
  "1.500",
  "0",
]

describe("reconciler against the replay exchange's klines, on the TestClock", () => {
  it.scoped(
    "an unreachable API leaves the minutes for the next pass, which compares them and finds the one that differs",
    () =>
      Effect.gen(function* () {
        const server = yield* Effect.acquireRelease(
          Effect.promise(() => ReplayServer.start()),
          (s) => Effect.promise(() => s.close()),
        )
        const venue = server.venue("binance")
        venue.ledger.klines.set("BTCUSDT", [0, 1, 2].map(kline))
        const due = new DueCandles()
        const port = { ...testPort([SYMBOL], new Map()).port, due }
        port.watermark.observe(10 * 60_000, 0)
        for (const m of [0, 1, 2]) due.offer(candle(m, "2"))
        yield* Effect.forkScoped(
          makeReconciler({
            exchange: "binance",
            port,
            due,
            candles: binanceCandles,
            instrument: binanceInstrument,
            rest: {
              baseUrl: server.restUrl("binance"),
              budget: new WeightBudget(1_200, 60_000),
              timeout: Duration.hours(1),
            },
            interval: Duration.minutes(1),
          }),
        )
        const stat = port.stats.of(SYMBOL)!

        venue.restDown = true
        yield* TestClock.adjust(Duration.minutes(1))
        // The REST client's own retries, then the pass gives up until the next.
        for (let i = 0; i < 8; i++) {
          yield* settle
          yield* TestClock.adjust(Duration.seconds(30))
        }
        yield* settle
        // At least one pass's worth of tries (the first and six retries), all refused, nothing compared.
        expect(venue.restLog.length).toBeGreaterThanOrEqual(7)
        expect(venue.restLog.every((r) => r.status === 503)).toBe(true)
        expect(stat.reconciled).toBe(0)

        venue.restDown = false
        for (let i = 0; i < 3; i++) {
          yield* TestClock.adjust(Duration.minutes(1))
          yield* settle
        }
        // One request for the three minutes once the API answers; compared minutes are not asked for again.
        expect(venue.restLog.filter((r) => r.status !== 503).map((r) => [r.status, r.url])).toEqual([
          [200, "/api/v3/klines?symbol=BTCUSDT&interval=1m&startTime=0&endTime=179999&limit=1000"],
        ])
        expect(stat).toMatchObject({
          reconciled: 3,
          mismatched: 1,
          lastReconciledMinute: 120_000,
          lastMismatch: { minute: 60_000, fields: ["close"] },
        })
      }),
  )
})
