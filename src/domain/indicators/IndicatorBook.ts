import { type Candle, periodMs } from "../../schema/Candle.js"
import type { IndicatorRecord } from "../../schema/Indicator.js"
import type { IndicatorSet } from "./IndicatorSet.js"
import { type IndicatorCandle, IndicatorSeries } from "./IndicatorSeries.js"

const seriesKey = (c: Candle) => `${c.exchange}\u0000${c.symbol}\u0000${c.timeframe}`

/** What the indicators read of a candle, stored or live. */
type CandlePrices = Pick<Candle, "openTime" | "high" | "low" | "close" | "revision" | "isFinal">

const barOf = (c: CandlePrices): IndicatorCandle => ({
  openTime: c.openTime,
  high: Number(c.high),
  low: Number(c.low),
  close: Number(c.close),
  revision: c.revision,
})

export type BookResult =
  | { readonly _tag: "Records"; readonly records: ReadonlyArray<IndicatorRecord> }
  | { readonly _tag: "TooOld"; readonly oldestKept: number }

/**
 * Every series' indicators, fed final candles. A series is created by `warm`, from the stored final candles before
 * its first live one, and keeps the candles of the repair horizon so that any revision the aggregators can still
 * make is recomputed from a checkpoint.
 */
export class IndicatorBook {
  private readonly series = new Map<string, IndicatorSeries>()

  constructor(
    private readonly set: IndicatorSet,
    /** How far back a final candle can still be revised (the aggregators' repair horizon). */
    private readonly repairHorizonMs: number,
  ) {}

  /** Candles of the series before `candle` to warm it with, or 0 when it is warm already. */
  warmUpNeeded(candle: Candle): number {
    return this.series.has(seriesKey(candle)) ? 0 : this.set.warmUpCandles()
  }

  /** Starts the series of `candle` from `stored` (oldest first; open candles and later ones are skipped). */
  warm(candle: Candle, stored: ReadonlyArray<CandlePrices>): void {
    const keep = Math.ceil(this.repairHorizonMs / periodMs(candle.timeframe)) + 1
    const series = new IndicatorSeries(this.set, keep)
    for (const c of stored) if (c.isFinal && c.openTime < candle.openTime) series.apply(barOf(c))
    this.series.set(seriesKey(candle), series)
  }

  /** The rows a final candle adds or changes; the series must have been warmed. */
  apply(candle: Candle): BookResult {
    const series = this.series.get(seriesKey(candle))
    if (series === undefined) throw new Error(`indicator series of ${seriesKey(candle)} used before warm-up`)
    const applied = series.apply(barOf(candle))
    if (applied._tag === "TooOld") return applied
    return {
      _tag: "Records",
      records: applied.rows.map((row) => ({
        exchange: candle.exchange,
        symbol: candle.symbol,
        timeframe: candle.timeframe,
        openTime: row.openTime,
        revision: row.revision,
        values: row.values,
      })),
    }
  }
}
