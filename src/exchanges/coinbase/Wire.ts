import { Schema } from "effect"

/** Advanced Trade market-data envelope: every message names its channel and carries a list of events. */
export const Envelope = Schema.Struct({
  channel: Schema.String,
  timestamp: Schema.optional(Schema.String),
  sequence_num: Schema.optional(Schema.Number),
  events: Schema.Unknown,
})

/** `market_trades` event: `type` is `snapshot` (recent trades, sent after subscribing) or `update`. */
export const TradesEvent = Schema.Struct({ type: Schema.String, trades: Schema.Unknown })

/** One trade; `side` is the maker's side (documented), so the taker's is the opposite. Ids are numeric text. */
export const TradeItem = Schema.Struct({
  trade_id: Schema.String,
  product_id: Schema.String,
  price: Schema.String,
  size: Schema.String,
  side: Schema.Literal("BUY", "SELL"),
  time: Schema.String,
})
export type TradeItem = typeof TradeItem.Type

/** A record of Exchange REST `GET /products/{id}/trades`: the same ids, `side` again the maker's. */
export const RestTrade = Schema.Struct({
  trade_id: Schema.Number,
  price: Schema.String,
  size: Schema.String,
  side: Schema.Literal("buy", "sell"),
  time: Schema.String,
})

export const TickerEvent = Schema.Struct({ type: Schema.String, tickers: Schema.Unknown })

export const TickerItem = Schema.Struct({
  product_id: Schema.String,
  price: Schema.String,
  best_bid: Schema.String,
  best_ask: Schema.String,
  best_bid_quantity: Schema.optional(Schema.String),
  best_ask_quantity: Schema.optional(Schema.String),
})

/** `{"type":"error","message":…}`: a refused subscription or request. */
export const ErrorMessage = Schema.Struct({ type: Schema.Literal("error"), message: Schema.String })
