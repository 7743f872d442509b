import { Schema } from "effect"

/** v5 public topic message: `publicTrade.<SYM>` or `tickers.<SYM>`. */
export const Envelope = Schema.Struct({
  topic: Schema.String,
  type: Schema.optional(Schema.String),
  ts: Schema.optional(Schema.Number),
  data: Schema.Unknown,
})

/** One public trade; `S` is the taker side, `i` an id that is not ordered (a UUID on derivatives). */
export const TradeItem = Schema.Struct({
  T: Schema.Number,
  s: Schema.String,
  S: Schema.Literal("Buy", "Sell"),
  v: Schema.String,
  p: Schema.String,
  i: Schema.String,
})

/** A ticker snapshot or a partial delta: every field but the symbol may be absent from a delta. */
export const TickerItem = Schema.Struct({
  symbol: Schema.String,
  bid1Price: Schema.optional(Schema.String),
  bid1Size: Schema.optional(Schema.String),
  ask1Price: Schema.optional(Schema.String),
  ask1Size: Schema.optional(Schema.String),
})
export type TickerItem = typeof TickerItem.Type

/** Answer to `subscribe` or `ping`. */
export const OpResponse = Schema.Struct({
  op: Schema.String,
  success: Schema.optional(Schema.Boolean),
  ret_msg: Schema.optional(Schema.String),
})
