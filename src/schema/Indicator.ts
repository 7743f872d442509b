import { Schema } from "effect"
import { Timeframe } from "./Candle.js"
import { ExchangeId, UnifiedSymbol } from "./Market.js"

/**
 * One final candle's indicator values, as the indicator sinks take them. `revision` is the candle's own: a row
 * recomputed because an earlier candle was revised keeps it, and replaces the stored row all the same.
 */
export const IndicatorRecord = Schema.Struct({
  exchange: ExchangeId,
  symbol: UnifiedSymbol,
  timeframe: Timeframe,
  openTime: Schema.Number,
  revision: Schema.Number,
  values: Schema.Record({ key: Schema.String, value: Schema.Number }),
})
export type IndicatorRecord = typeof IndicatorRecord.Type
