import { Schema } from "effect"
import { ExchangeId, UnifiedSymbol } from "./Market.js"

const Probability = Schema.Number.pipe(Schema.between(0, 1))
const Direction = Schema.Literal("buy", "hold", "sell")
const EpochMs = Schema.Finite.pipe(Schema.nonNegative())

/** A model's trading signal as stored in the seed's `ml_signals`: flat, snake_case, InfluxDB's own field names. */
export const Signal = Schema.Struct({
  exchange: ExchangeId,
  symbol: UnifiedSymbol,
  signal: Direction,
  /** An InfluxDB tag: must not be empty. */
  risk_level: Schema.NonEmptyTrimmedString,
  confidence: Probability,
  prob_buy: Probability,
  prob_hold: Probability,
  prob_sell: Probability,
  risk_score: Schema.Finite,
  inference_time_ms: Schema.Finite,
  model_version: Schema.String,
  /** Epoch milliseconds. */
  timestamp: EpochMs,
})
export type Signal = typeof Signal.Type

/** An ISO-8601 date (`2024-01-01T00:00:00Z`) as epoch milliseconds. */
const IsoMillis = Schema.transform(Schema.DateFromString, EpochMs, {
  strict: true,
  decode: (d) => d.getTime(),
  encode: (ms) => new Date(ms),
})

/**
 * The seed's `MLSignal`, as its ML engine publishes it: camelCase, probabilities nested, the direction as `signal`
 * (or `signalType`, as the seed's pipeline example names it), the time as epoch ms or an ISO date. Without an
 * `exchange`, the one the consumer is configured with is used.
 */
const SeedSignal = Schema.Struct({
  exchange: Schema.optional(ExchangeId),
  symbol: UnifiedSymbol,
  signal: Schema.optional(Direction),
  signalType: Schema.optional(Direction),
  riskLevel: Schema.NonEmptyTrimmedString,
  confidence: Probability,
  probabilities: Schema.Struct({ buy: Probability, hold: Probability, sell: Probability }),
  riskScore: Schema.Finite,
  inferenceTimeMs: Schema.Finite,
  modelVersion: Schema.String,
  timestamp: Schema.Union(EpochMs, IsoMillis),
}).pipe(Schema.filter((s) => s.signal !== undefined || s.signalType !== undefined || "needs `signal` or `signalType`"))

/** A signal message in either accepted form, as the flat Signal; `exchange` fills in where the seed form has none. */
export const signalMessage = (exchange: ExchangeId) =>
  Schema.Union(
    Signal,
    Schema.transform(SeedSignal, Schema.typeSchema(Signal), {
      strict: true,
      decode: (s) => ({
        exchange: s.exchange ?? exchange,
        symbol: s.symbol,
        signal: (s.signal ?? s.signalType)!,
        risk_level: s.riskLevel,
        confidence: s.confidence,
        prob_buy: s.probabilities.buy,
        prob_hold: s.probabilities.hold,
        prob_sell: s.probabilities.sell,
        risk_score: s.riskScore,
        inference_time_ms: s.inferenceTimeMs,
        model_version: s.modelVersion,
        timestamp: s.timestamp,
      }),
      encode: (f) => ({
        exchange: f.exchange,
        symbol: f.symbol,
        signal: f.signal,
        riskLevel: f.risk_level,
        confidence: f.confidence,
        probabilities: { buy: f.prob_buy, hold: f.prob_hold, sell: f.prob_sell },
        riskScore: f.risk_score,
        inferenceTimeMs: f.inference_time_ms,
        modelVersion: f.model_version,
        timestamp: f.timestamp,
      }),
    }),
  )
