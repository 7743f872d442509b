import { createRequire } from "node:module"
import { describe, expect, it } from "vitest"
import { DEFAULT_INDICATORS, IndicatorSet, unknownIndicator } from "../../src/domain/indicators/IndicatorSet.js"
import {
  type IndicatorCandle,
  IndicatorSeries,
  type IndicatorRow,
} from "../../src/domain/indicators/IndicatorSeries.js"
import { candleSeries } from "../support/candleSeries.js"

interface TalibResult {
  readonly begIndex: number
  readonly nbElement: number
  readonly result: Record<string, ReadonlyArray<number>>
}
// TA-Lib's own build (tools/talib, built by scripts/build-talib.mjs at npm install).
const talib = createRequire(import.meta.url)("../../tools/talib/node_modules/talib") as {
  execute: (params: Record<string, unknown>) => TalibResult
}

const execute = (
  name: string,
  candles: ReadonlyArray<IndicatorCandle>,
): { begIndex: number; values: ReadonlyArray<number> } => {
  const [kind, suffix] = name.split("_") as [string, string]
  const call = (() => {
    switch (kind) {
      case "sma":
      case "ema":
      case "rsi":
      case "atr":
      case "adx":
        return { out: "outReal", params: { name: kind.toUpperCase(), optInTimePeriod: Number(suffix) } }
      case "macd":
        return {
          out: { line: "outMACD", signal: "outMACDSignal", hist: "outMACDHist" }[suffix]!,
          params: { name: "MACD", optInFastPeriod: 12, optInSlowPeriod: 26, optInSignalPeriod: 9 },
        }
      case "bb":
        return {
          out: { upper: "outRealUpperBand", middle: "outRealMiddleBand", lower: "outRealLowerBand" }[suffix]!,
          params: { name: "BBANDS", optInTimePeriod: 20, optInNbDevUp: 2, optInNbDevDn: 2, optInMAType: 0 },
        }
      default:
        throw new Error(`no TA-Lib call for ${name}`)
    }
  })()
  const r = talib.execute({
    startIdx: 0,
    endIdx: candles.length - 1,
    high: candles.map((c) => c.high),
    low: candles.map((c) => c.low),
    close: candles.map((c) => c.close),
    inReal: candles.map((c) => c.close),
    ...call.params,
  })
  return { begIndex: r.begIndex, values: r.result[call.out]!.slice(0, r.nbElement) }
}

/** The windowed indicators: each value depends on its window alone (see Calculators.ts for why). */
const windowOf = (name: string): number | undefined =>
  name.startsWith("bb_") ? 20 : name.startsWith("sma_") ? Number(name.slice(4)) : undefined

/**
 * TA-Lib's own numbers for one indicator name, by candle index (absent before its first value): over the whole
 * series for the recursive indicators, over each candle's own window for the windowed ones.
 */
const reference = (name: string, candles: ReadonlyArray<IndicatorCandle>): Map<number, number> => {
  const window = windowOf(name)
  if (window === undefined) {
    const r = execute(name, candles)
    return new Map(r.values.map((v, i) => [r.begIndex + i, v]))
  }
  const values = new Map<number, number>()
  for (let end = window; end <= candles.length; end++)
    values.set(end - 1, execute(name, candles.slice(end - window, end)).values[0]!)
  return values
}

const runAll = (set: IndicatorSet, candles: ReadonlyArray<IndicatorCandle>, keep = 64) => {
  const series = new IndicatorSeries(set, keep)
  const rows = new Map<number, IndicatorRow["values"]>()
  for (const c of candles) {
    const applied = series.apply(c)
    if (applied._tag !== "Rows") throw new Error(`candle ${c.openTime} refused`)
    for (const row of applied.rows) rows.set(row.openTime, row.values)
  }
  return { series, rows }
}

/** Relative difference, against the larger magnitude; two exact zeros are equal. */
const relative = (a: number, b: number) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b)))

const set = IndicatorSet.of(DEFAULT_INDICATORS)

describe("indicators at ingest, against TA-Lib itself", () => {
  // A large price, a dollar-sized one and a sub-cent one (where a window's variance falls under TA-Lib's epsilon).
  it.each([
    { price: 30_000, seed: 1 },
    { price: 1.2345, seed: 2 },
    { price: 0.00001234, seed: 3 },
  ])(
    "every indicator equals TA-Lib's output from its first value on, over 3,000 candles at $price",
    ({ price, seed }) => {
      const candles = candleSeries(3_000, price, seed)
      const { rows } = runAll(set, candles)
      let compared = 0
      for (const name of DEFAULT_INDICATORS) {
        const expected = reference(name, candles)
        expect(expected.size, name).toBeGreaterThan(2_500)
        candles.forEach((c, i) => {
          const ours = rows.get(c.openTime)?.[name]
          const theirs = expected.get(i)
          if (theirs === undefined) expect(ours, `${name} at ${i}, before TA-Lib's first value`).toBeUndefined()
          else {
            expect(ours, `${name} at ${i}`).toBeDefined()
            expect(relative(ours!, theirs), `${name} at ${i}: ${ours} vs TA-Lib ${theirs}`).toBeLessThanOrEqual(1e-9)
            compared++
          }
        })
      }
      expect(compared).toBeGreaterThan(14 * 2_500)
    },
  )

  it("other periods follow their names", () => {
    const candles = candleSeries(600, 100, 4)
    const names = ["sma_7", "ema_9", "rsi_2", "atr_30", "adx_5"]
    const { rows } = runAll(IndicatorSet.of(names), candles)
    for (const name of names) {
      const expected = reference(name, candles)
      for (const [i, theirs] of expected) expect(relative(rows.get(candles[i]!.openTime)![name]!, theirs)).toBe(0)
    }
  })

  it("names what it cannot compute", () => {
    expect(unknownIndicator("sma_1")).toMatch(/period must be between 2/)
    expect(unknownIndicator("vwap_5")).toMatch(/unknown indicator vwap_5/)
    expect(unknownIndicator("macd_line")).toBeUndefined()
    expect(() => IndicatorSet.of(["ema_12", "stoch"])).toThrow(/unknown indicator stoch/)
  })
})

describe("revisions and restarts", () => {
  const candles = candleSeries(1_500, 30_000, 5)

  it("a revised final candle re-emits its values and every later row that changed; the stored series then equals a fresh computation", () => {
    const { series, rows: stored } = runAll(set, candles, 120)
    const at = 1_450
    const revised = { ...candles[at]!, close: candles[at]!.close + 25, high: candles[at]!.high + 25 }
    const applied = series.apply(revised)
    expect(applied._tag).toBe("Rows")
    const reemitted = applied._tag === "Rows" ? applied.rows : []
    expect(reemitted[0]?.openTime).toBe(revised.openTime)
    expect(reemitted.map((r) => r.openTime)).toEqual(candles.slice(at).map((c) => c.openTime))
    for (const row of reemitted) {
      expect(row.values, `row ${row.openTime} re-emitted unchanged`).not.toEqual(stored.get(row.openTime))
      stored.set(row.openTime, row.values)
    }
    const fresh = runAll(
      set,
      candles.map((c, i) => (i === at ? revised : c)),
    ).rows
    expect(stored).toEqual(fresh)
    // The same revision again changes nothing.
    expect(series.apply(revised)).toEqual({ _tag: "Rows", rows: [] })
  })

  it("only rows whose values changed: an SMA re-emits the revised candle and the 19 after it, not the rest", () => {
    const sma = IndicatorSet.of(["sma_20"])
    const { series } = runAll(sma, candles, 120)
    const at = 1_440
    const applied = series.apply({ ...candles[at]!, close: candles[at]!.close + 10 })
    const rows = applied._tag === "Rows" ? applied.rows : []
    expect(rows.map((r) => r.openTime)).toEqual(candles.slice(at, at + 20).map((c) => c.openTime))
  })

  it("a candle inserted late (a gap filled) recomputes from it on", () => {
    const gapped = candles.filter((_, i) => i !== 1_470)
    const { series, rows: stored } = runAll(set, gapped, 120)
    const applied = series.apply(candles[1_470]!)
    for (const row of applied._tag === "Rows" ? applied.rows : []) stored.set(row.openTime, row.values)
    expect(stored).toEqual(runAll(set, candles).rows)
  })

  it("a revision older than the candles kept is refused and changes nothing", () => {
    const { series } = runAll(set, candles, 120)
    expect(series.size).toBeGreaterThanOrEqual(120)
    expect(series.size).toBeLessThan(120 + 32)
    expect(series.apply({ ...candles[100]!, close: 1 })._tag).toBe("TooOld")
    const next = { openTime: 1_500 * 60_000, high: 30_100, low: 29_900, close: 30_000 }
    const after = series.apply(next)
    const reference = runAll(set, [...candles, next]).rows.get(next.openTime)
    expect(after).toEqual({ _tag: "Rows", rows: [{ openTime: next.openTime, revision: 0, values: reference }] })
  })

  it("after a restart warmed from stored candles, every value equals the uninterrupted run's to 1e-9", () => {
    const long = candleSeries(4_000, 30_000, 6)
    const uninterrupted = runAll(set, long).rows
    const restartAt = 3_000
    const warmUp = set.warmUpCandles()
    expect(warmUp).toBeGreaterThan(200)
    const restarted = new IndicatorSeries(set, 64)
    for (const c of long.slice(restartAt - warmUp, restartAt)) restarted.apply(c)
    let worst = 0
    for (const c of long.slice(restartAt)) {
      const applied = restarted.apply(c)
      const row = applied._tag === "Rows" ? applied.rows[0] : undefined
      expect(row?.openTime).toBe(c.openTime)
      const expected = uninterrupted.get(c.openTime)!
      expect(Object.keys(row!.values).sort()).toEqual(Object.keys(expected).sort())
      for (const name of Object.keys(expected)) {
        // MACD's histogram crosses zero; it is measured against the price scale it is a difference of.
        const scale = name === "macd_hist" ? c.close : Math.max(Math.abs(expected[name]!), Math.abs(row!.values[name]!))
        const diff = Math.abs(expected[name]! - row!.values[name]!) / scale
        worst = Math.max(worst, diff)
        expect(diff, `${name} at ${c.openTime}`).toBeLessThanOrEqual(1e-9)
      }
    }
    expect(worst).toBeLessThan(1e-9)
  })
})
