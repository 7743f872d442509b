import { it } from "@effect/vitest"
import { Effect, TestClock } from "effect"
import { describe, expect } from "vitest"
import { makeAggregatorMailbox, runAggregator } from "../../src/actors/aggregation/Aggregator.js"
import { SymbolPipeline } from "../../src/domain/SymbolPipeline.js"
import { Watermark } from "../../src/domain/Watermark.js"
import { type Candle, DEFAULT_TIMEFRAMES } from "../../src/schema/Candle.js"
import type { Trade } from "../../src/schema/Market.js"
import { fromFixed, norm, toFixed } from "../support/reference.js"
import { trade } from "../support/trades.js"

const MINUTE = 60_000
/** An hour boundary well after the epoch, so every timeframe bucket starts at it. */
const H = 1_700_006_400_000

/**
 * The aggregator actor with a feed stand-in: trades are offered and the watermark observed as the feed does,
 * with arrival times read from the TestClock, which starts at 0.
 */
const harness = (options: { emptyCandles?: "flat" | "skip" } = {}) =>
  Effect.gen(function* () {
    const mailbox = yield* makeAggregatorMailbox(64)
    const watermark = new Watermark()
    const out: Array<Candle> = []
    const pipeline = new SymbolPipeline("binance", "BTC/USDT", {
      timeframes: DEFAULT_TIMEFRAMES,
      graceMs: 2_000,
      emptyCandles: options.emptyCandles ?? "flat",
      amendHorizonMs: 3_600_000,
      repairHorizonMs: 86_400_000,
      futureToleranceMs: Number.MAX_SAFE_INTEGER,
    })
    yield* Effect.forkScoped(
      runAggregator({
        exchange: "binance",
        symbol: "BTC/USDT",
        pipeline,
        watermark,
        mailbox,
        outputs: { candles: (cs) => Effect.sync(() => out.push(...cs)) },
      }),
    )
    const send = (t: Trade) =>
      Effect.gen(function* () {
        yield* mailbox.offer(t)
        watermark.observe(t.exchangeTs, yield* TestClock.currentTimeMillis)
        yield* TestClock.adjust(0)
      })
    const finals = (tf: string) => out.filter((c) => c.timeframe === tf && c.isFinal)
    return { send, out, finals, mailbox }
  })

describe("aggregator actor on the TestClock", () => {
  it.scoped("finalises a candle by the watermark with no further trade arriving", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      // Arrives at clock 0 with event time H+10s: watermark(t) = H + 10s + t. The minute closes at H+59.999s and
      // with 2 s of grace is final once the watermark reaches H+61.999s, i.e. at clock 51.999s.
      yield* h.send(trade(1, H + 10_000, "100.5", "2"))
      yield* TestClock.adjust("51998 millis")
      expect(h.finals("1m")).toHaveLength(0)
      yield* TestClock.adjust("1 millis")
      expect(h.finals("1m")).toHaveLength(1)
      expect(h.finals("1m")[0]).toMatchObject({ openTime: H, close: "100.5", volume: "2", revision: 0 })
    }),
  )

  it.scoped("keeps a trade that arrives within the grace period and amends for a late one as revision 1", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      yield* h.send(trade(1, H + 30_000, "100", "1"))
      yield* TestClock.adjust("30 seconds") // watermark H+60s: the minute closed, grace runs until H+61.999s
      yield* h.send(trade(2, H + 59_500, "101", "1"))
      yield* TestClock.adjust("2 seconds")
      const [first] = h.finals("1m")
      expect(first).toMatchObject({ openTime: H, close: "101", trades: 2, revision: 0 })
      yield* h.send(trade(3, H + 45_000, "99", "0.5"))
      yield* TestClock.adjust(0)
      const minutes = h.finals("1m").filter((c) => c.openTime === H)
      expect(minutes).toHaveLength(2)
      expect(minutes[1]).toMatchObject({ revision: 1, trades: 3, low: "99", close: "101", volume: "2.5" })
    }),
  )

  it.scoped("turns an empty interval after the first trade into a flat candle", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      yield* h.send(trade(1, H + 5_000, "250.25", "3"))
      yield* TestClock.adjust("3 minutes")
      const minutes = h.finals("1m")
      expect(minutes.map((c) => c.openTime)).toEqual([H, H + MINUTE, H + 2 * MINUTE])
      for (const flat of minutes.slice(1))
        expect(flat).toMatchObject({
          open: "250.25",
          high: "250.25",
          low: "250.25",
          close: "250.25",
          volume: "0",
          trades: 0,
          vwap: null,
        })
    }),
  )

  it.scoped("emits no flat candle with CANDLE_EMPTY=skip", () =>
    Effect.gen(function* () {
      const h = yield* harness({ emptyCandles: "skip" })
      yield* h.send(trade(1, H + 5_000, "250.25", "3"))
      yield* TestClock.adjust("3 minutes")
      expect(h.finals("1m").map((c) => c.openTime)).toEqual([H])
    }),
  )

  it.scoped("builds 1h candles that equal the roll-up of their sixty 1m candles", () =>
    Effect.gen(function* () {
      const h = yield* harness()
      let seed = 7
      const rand = () => {
        seed = (seed * 16807) % 2147483647
        return seed / 2147483647
      }
      let id = 1
      let price = 30_000
      for (let ts = H + 1_000; ts < H + 60 * MINUTE; ts += Math.floor(rand() * 90_000)) {
        price += Math.round((rand() - 0.5) * 2000) / 100
        yield* h.send(trade(id++, ts, price.toFixed(2), (rand() * 2).toFixed(8), rand() < 0.5 ? "buy" : "sell"))
      }
      yield* TestClock.adjust("1 hour")
      const minutes = h.finals("1m").filter((c) => c.openTime < H + 60 * MINUTE)
      const [hour] = h.finals("1h")
      expect(minutes).toHaveLength(60)
      expect(hour).toBeDefined()
      const traded = minutes.filter((c) => c.trades > 0)
      const sum = (f: (c: Candle) => string) => fromFixed(traded.reduce((a, c) => a + toFixed(f(c)), 0n))
      expect(hour).toMatchObject({
        openTime: H,
        open: traded[0]!.open,
        close: traded[traded.length - 1]!.close,
        high: traded.reduce((a, c) => (Number(c.high) > Number(a) ? c.high : a), traded[0]!.high),
        low: traded.reduce((a, c) => (Number(c.low) < Number(a) ? c.low : a), traded[0]!.low),
        trades: traded.reduce((a, c) => a + c.trades, 0),
      })
      expect(norm(hour!.volume)).toBe(sum((c) => c.volume))
      expect(norm(hour!.quoteVolume)).toBe(sum((c) => c.quoteVolume))
      expect(norm(hour!.takerBuyBase)).toBe(sum((c) => c.takerBuyBase))
      // And every 5m/15m candle of the hour rolls up the same way.
      for (const tf of ["5m", "15m"] as const) {
        const parts = h.finals(tf)
        expect(parts.reduce((a, c) => a + c.trades, 0)).toBe(hour!.trades)
      }
    }),
  )
})
