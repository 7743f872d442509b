import { expect } from "vitest"
import { IndicatorSeries } from "../../src/domain/indicators/IndicatorSeries.js"
import { IndicatorSet } from "../../src/domain/indicators/IndicatorSet.js"
import { query, type StoredCandle } from "./postgres.js"

/**
 * The `indicators` table equals a fresh computation over each series' stored final candles, value for value (the
 * same decimals through the same code, so exactly), and holds nothing else. Returns the rows compared.
 */
export const expectIndicatorsMatch = async (
  url: string,
  candles: ReadonlyArray<StoredCandle>,
  names: ReadonlyArray<string>,
): Promise<number> => {
  const set = IndicatorSet.of(names)
  const want = new Map<string, number>()
  const series = new Map<string, IndicatorSeries>()
  for (const c of candles.filter((c) => c.is_final)) {
    const key = `${c.exchange} ${c.symbol} ${c.timeframe}`
    const s = series.get(key) ?? new IndicatorSeries(set, 16)
    series.set(key, s)
    const applied = s.apply({ openTime: c.timestamp, high: Number(c.high), low: Number(c.low), close: Number(c.close) })
    if (applied._tag === "Rows")
      for (const row of applied.rows)
        for (const [name, value] of Object.entries(row.values)) want.set(`${key} ${row.openTime} ${name}`, value)
  }
  const rows = await query<{
    exchange: string
    symbol: string
    timeframe: string
    timestamp: string
    indicator: string
    value: string
  }>(url, `SELECT exchange, symbol, timeframe, "timestamp"::text, indicator, value::text FROM indicators`)
  const got = new Map(
    rows.map((r) => [`${r.exchange} ${r.symbol} ${r.timeframe} ${r.timestamp} ${r.indicator}`, Number(r.value)]),
  )
  expect(want.size).toBeGreaterThan(0)
  expect(got).toEqual(want)
  return want.size
}
