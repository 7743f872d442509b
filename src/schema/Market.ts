import { Schema } from "effect"

export const ExchangeId = Schema.Literal("binance", "coinbase", "kraken", "bybit", "okx")
export type ExchangeId = typeof ExchangeId.Type

/** Unified `BASE/QUOTE` (spot) or ccxt's derivatives: `BASE/QUOTE:SETTLE`, dated `…:SETTLE-YYMMDD`, options `…-STRIKE-C|P`. */
export const UnifiedSymbol = Schema.String.pipe(
  Schema.pattern(/^[A-Z0-9]+\/[A-Z0-9]+(:[A-Z0-9]+(-\d{6}(-\d+(\.\d+)?-[CP])?)?)?$/),
)

export const Side = Schema.Literal("buy", "sell")
export type Side = typeof Side.Type

export const Trade = Schema.TaggedStruct("Trade", {
  exchange: ExchangeId,
  symbol: UnifiedSymbol,
  tradeId: Schema.String,
  /** The id as a number where the venue numbers trades contiguously (gap detection, cheap dedupe); −1 elsewhere. */
  seq: Schema.Number,
  price: Schema.Number,
  qty: Schema.Number,
  /** Exact decimal strings, kept beside the numbers so sums can be exact. */
  priceText: Schema.String,
  qtyText: Schema.String,
  /** Taker side. */
  side: Side,
  exchangeTs: Schema.Number,
  recvTs: Schema.Number,
  /** Where the venue says so (DESIGN.md's Trade); `side` carries the same fact for every venue. */
  isBuyerMaker: Schema.optional(Schema.Boolean),
  /** Raw trades this record stands for: `l - f + 1` for a Binance aggTrade, 1 elsewhere. */
  count: Schema.Number,
  /**
   * The decimal texts as the decoder read them (`units × 10^-scale`), a cache that spares validation a second
   * read; NaN units where they exceed a double's integers, absent on a trade built by hand. Either way the texts
   * are what counts.
   */
  priceUnits: Schema.optional(Schema.Number),
  priceScale: Schema.optional(Schema.Number),
  qtyUnits: Schema.optional(Schema.Number),
  qtyScale: Schema.optional(Schema.Number),
})
export type Trade = typeof Trade.Type

export const Quote = Schema.TaggedStruct("Quote", {
  exchange: ExchangeId,
  symbol: UnifiedSymbol,
  bid: Schema.Number,
  ask: Schema.Number,
  bidQty: Schema.Number,
  askQty: Schema.Number,
  ts: Schema.Number,
})
export type Quote = typeof Quote.Type

/** The seed's "ProcessedTick": a trade enriched with the book top at the time it was seen. */
export const Tick = Schema.Struct({
  exchange: ExchangeId,
  symbol: UnifiedSymbol,
  bid: Schema.NullOr(Schema.Number),
  ask: Schema.NullOr(Schema.Number),
  last: Schema.Number,
  volume: Schema.Number,
  timestamp: Schema.Number,
  mid: Schema.NullOr(Schema.Number),
  spread: Schema.NullOr(Schema.Number),
  spreadBps: Schema.NullOr(Schema.Number),
})
export type Tick = typeof Tick.Type
