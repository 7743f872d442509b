import { Schema } from "effect"
import { ExchangeId, UnifiedSymbol } from "./Market.js"

/** One minute in ms: the base period every candle is built from. */
export const MINUTE = 60_000

const periods = {
  "1m": MINUTE,
  "3m": 3 * MINUTE,
  "5m": 5 * MINUTE,
  "15m": 15 * MINUTE,
  "30m": 30 * MINUTE,
  "1h": 60 * MINUTE,
  "2h": 120 * MINUTE,
  "4h": 240 * MINUTE,
  "6h": 360 * MINUTE,
  "8h": 480 * MINUTE,
  "12h": 720 * MINUTE,
  "1d": 1440 * MINUTE,
} as const

/** Every supported timeframe divides a UTC day, so buckets are epoch multiples and a day starts at 00:00 UTC. */
export const Timeframe = Schema.Literal(...(Object.keys(periods) as Array<keyof typeof periods>))
export type Timeframe = typeof Timeframe.Type

export const DEFAULT_TIMEFRAMES: ReadonlyArray<Timeframe> = ["1m", "5m", "15m", "1h", "4h", "1d"]

export const periodMs = (tf: Timeframe): number => periods[tf]

/** The period of the longest of `timeframes`: how far back an open candle can reach. */
export const longestPeriodMs = (timeframes: ReadonlyArray<Timeframe>): number => Math.max(...timeframes.map(periodMs))

export const bucketStart = (ts: number, period: number): number => ts - (((ts % period) + period) % period)

export const Candle = Schema.Struct({
  exchange: ExchangeId,
  symbol: UnifiedSymbol,
  timeframe: Timeframe,
  openTime: Schema.Number,
  /** openTime + period − 1 */
  closeTime: Schema.Number,
  open: Schema.String,
  high: Schema.String,
  low: Schema.String,
  close: Schema.String,
  volume: Schema.String,
  quoteVolume: Schema.String,
  trades: Schema.Number,
  takerBuyBase: Schema.String,
  takerBuyQuote: Schema.String,
  /** quoteVolume / volume; null when the candle has no volume. */
  vwap: Schema.NullOr(Schema.String),
  isFinal: Schema.Boolean,
  revision: Schema.Number,
  /** false while a trade-id gap inside the bucket is not backfilled. */
  complete: Schema.Boolean,
  /** Id of the last trade (by trade time, then id) in the candle; empty for a flat candle. */
  lastTradeId: Schema.String,
})
export type Candle = typeof Candle.Type
