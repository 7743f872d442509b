import { describe, expect, it } from "vitest"
import { SymbolPipeline } from "../../src/domain/SymbolPipeline.js"
import type { Candle } from "../../src/schema/Candle.js"
import { PIPELINE_OPTIONS } from "../../bench/frames.js"
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
