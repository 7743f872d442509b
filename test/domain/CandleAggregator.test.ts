import { describe, expect, it } from "vitest"
import { SymbolPipeline } from "../../src/domain/SymbolPipeline.js"
import type { Candle } from "../../src/schema/Candle.js"
import { PIPELINE_OPTIONS } from "../../bench/frames.js"
import { norm, referenceCandles } from "../support/reference.js"
import { trade } from "../support/trades.js"

const T0 = Date.UTC(2026, 0, 1, 0, 0)
const MINUTE = 60_000
const GRACE = PIPELINE_OPTIONS.graceMs

const pipeline = () => new SymbolPipeline("binance", "BTC/USDT", PIPELINE_OPTIONS)

/** The final 1m candles of a first run: one trade in each of the first three minutes of a 5m candle. */
const storedMinutes = (): ReadonlyArray<Candle> => {
  const first = pipeline()
  for (const [i, at] of [10_000, 70_000, 130_000].entries()) first.onTrade(trade(i + 1, T0 + at, "100.5", "2"), T0 + at)
  const out: Array<Candle> = []
  first.advance(T0 + 3 * MINUTE + GRACE, out)
  return out.filter((c) => c.timeframe === "1m" && c.isFinal)
}

/** A restarted run from `stored`: one more trade in the fourth minute, then the 5m candle once it closes. */
const restarted = (stored: ReadonlyArray<Candle>) => {
  const p = pipeline()
  const unreadable = p.aggregator.restore(stored)
  p.onTrade(trade(4, T0 + 190_000, "101", "1"), T0 + 190_000)
  const out: Array<Candle> = []
  p.advance(T0 + 5 * MINUTE + GRACE, out)
  return { unreadable, fiveMinutes: out.find((c) => c.timeframe === "5m" && c.openTime === T0) }
}

describe("restoring the aggregator from stored candles", () => {
  it("rolls the stored minutes into the open higher timeframes as if the process had never stopped", () => {
    const stored = storedMinutes()
    expect(stored.map((c) => c.openTime)).toEqual([T0, T0 + MINUTE, T0 + 2 * MINUTE])
    const { unreadable, fiveMinutes } = restarted(stored)
    expect(unreadable).toEqual([])
    expect(fiveMinutes).toMatchObject({ trades: 4, volume: "7", open: "100.5", close: "101", complete: true })
  })

  it("skips a stored minute it cannot read, names it, and marks the candles it belongs to incomplete", () => {
    const stored = storedMinutes()
    for (const corrupt of [{ volume: "NaN" }, { high: "" }, { trades: -1 }, { close: "1e99999" }]) {
      const { unreadable, fiveMinutes } = restarted(stored.map((c, i) => (i === 1 ? { ...c, ...corrupt } : c)))
      expect(unreadable, JSON.stringify(corrupt)).toEqual([T0 + MINUTE])
      expect(fiveMinutes, JSON.stringify(corrupt)).toMatchObject({ trades: 3, volume: "5", complete: false })
    }
  })
})

describe("an outage longer than the amend horizon", () => {
  const HOUR = 60 * MINUTE
  const T = Date.UTC(2026, 0, 1, 0, 0)
  /** One trade every 10 s for four hours; the connection is lost after the first 30 minutes and back at 3h30. */
  const all = Array.from({ length: (4 * HOUR) / 10_000 }, (_, i) =>
    trade(i + 1, T + i * 10_000 + 3, (100 + (i % 17) / 4).toFixed(2), ((i % 7) + 1).toFixed(1), i % 3 ? "buy" : "sell"),
  )
  const lost = T + 30 * MINUTE
  const back = T + 3.5 * HOUR
  const missed = all.filter((t) => t.exchangeTs >= lost && t.exchangeTs < back)

  /** Live before and after the outage, the watermark moving on through it, then the missed trades from REST. */
  const run = (repairHorizonMs: number) => {
    const p = new SymbolPipeline("binance", "BTC/USDT", { ...PIPELINE_OPTIONS, amendHorizonMs: HOUR, repairHorizonMs })
    const out: Array<Candle> = []
    for (const t of all.filter((t) => t.exchangeTs < lost)) p.onTrade(t, t.exchangeTs)
    p.aggregator.openGap("outage", { fromTs: lost - 7, toTs: Number.POSITIVE_INFINITY })
    for (let at = lost; at < back; at += MINUTE) p.advance(at, out)
    for (const t of all.filter((t) => t.exchangeTs >= back)) {
      p.onTrade(t, t.exchangeTs)
      p.advance(t.exchangeTs, out)
    }
    for (const t of missed) p.onTrade(t, T + 4 * HOUR)
    p.aggregator.closeGap("outage")
    p.advance(T + 4 * HOUR + GRACE, out)
    const newest = new Map<string, Candle>()
    for (const c of out.filter((c) => c.isFinal)) newest.set(`${c.timeframe}:${c.openTime}`, c)
    return { stats: p.takeStats(), newest }
  }

  it("keeps the gap's candles for the backfill: nothing is too late, and every candle equals the reference, complete", () => {
    const { stats, newest } = run(24 * HOUR)
    expect(stats.tooLate).toBe(0)
    const ref = all.map((t) => ({
      id: t.seq,
      ts: t.exchangeTs,
      price: t.priceText,
      qty: t.qtyText,
      takerBuy: t.side === "buy",
      count: 1,
    }))
    for (const [timeframe, period] of [
      ["1m", MINUTE],
      ["1h", HOUR],
    ] as const) {
      const expected = referenceCandles(ref, period)
      expect(expected.size).toBe((4 * HOUR) / period)
      for (const [openTime, r] of expected) {
        const c = newest.get(`${timeframe}:${openTime}`)
        const at = `${timeframe} ${new Date(openTime).toISOString()}`
        expect(c, at).toBeDefined()
        const { open, high, low, close, volume, trades, complete } = c!
        const prices = { open: norm(open), high: norm(high), low: norm(low), close: norm(close), volume: norm(volume) }
        expect({ ...prices, trades, complete }, at).toEqual({
          open: norm(r.open),
          high: norm(r.high),
          low: norm(r.low),
          close: norm(r.close),
          volume: norm(r.volume),
          trades: r.trades,
          complete: true,
        })
      }
    }
  })

  it("refuses the trades as too late when the repair horizon is no longer than the amend horizon", () => {
    const { stats, newest } = run(HOUR)
    expect(stats.tooLate).toBeGreaterThan(0)
    expect(newest.get(`1h:${T + HOUR}`)?.complete).toBe(false)
  })
})

describe("a late trade in a higher timeframe's period that has not closed", () => {
  it("goes into that period's open candle, not a final one the minutes closing later would replace", () => {
    const p = pipeline()
    const out: Array<Candle> = []
    // Time moves on before the symbol's first trade (a feed-wide watermark), so minute 2 is already due.
    p.advance(T0 + 3 * MINUTE + GRACE, out)
    p.onTrade(trade(10, T0 + 3 * MINUTE + 5_000, "101", "1"), T0 + 3 * MINUTE + 5_000)
    // A trade of minute 1 comes late (a fresh start's fill), while the 5m period it shares with minute 3 is open.
    p.onTrade(trade(5, T0 + MINUTE + 5_000, "99", "2"), T0 + 3 * MINUTE + 6_000)
    p.advance(T0 + 5 * MINUTE + GRACE, out)
    const fives = out.filter((c) => c.timeframe === "5m" && c.openTime === T0 && c.isFinal)
    expect(fives.at(-1)).toMatchObject({ trades: 2, volume: "3", open: "99", close: "101", low: "99" })
    expect(new Set(fives.map((c) => c.revision)).size).toBe(fives.length)
  })
})
