import { Schema } from "effect"
import { ExchangeId, UnifiedSymbol } from "./Market.js"

/** A model's trading signal as published on `neuraltrade.signals` (the seed's `ml_signals`). */
export const Signal = Schema.Struct({
  exchange: ExchangeId,
  symbol: UnifiedSymbol,
  signal: Schema.Literal("buy", "hold", "sell"),
  /** An InfluxDB tag: must not be empty. */
  risk_level: Schema.NonEmptyTrimmedString,
  confidence: Schema.Number.pipe(Schema.between(0, 1)),
  prob_buy: Schema.Number.pipe(Schema.between(0, 1)),
  prob_hold: Schema.Number.pipe(Schema.between(0, 1)),
  prob_sell: Schema.Number.pipe(Schema.between(0, 1)),
  risk_score: Schema.Finite,
  inference_time_ms: Schema.Finite,
  model_version: Schema.String,
  /** Epoch milliseconds. */
  timestamp: Schema.Finite.pipe(Schema.nonNegative()),
})
export type Signal = typeof Signal.Type
