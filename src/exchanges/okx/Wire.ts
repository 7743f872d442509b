import { Schema } from "effect"

/** v5 public push: `{"arg":{"channel","instId"},"data":[…]}`; every value is a string, timestamps included. */
export const Push = Schema.Struct({ arg: Schema.Unknown, data: Schema.Unknown })
export const Arg = Schema.Struct({ channel: Schema.String, instId: Schema.optional(Schema.String) })

/** One trades record; `count` fills may be aggregated under the last `tradeId` (absent in older frames). */
export const TradeItem = Schema.Struct({
  instId: Schema.String,
  tradeId: Schema.String,
  px: Schema.String,
  sz: Schema.String,
  side: Schema.Literal("buy", "sell"),
  ts: Schema.String,
  count: Schema.optional(Schema.String),
})

export const TickerItem = Schema.Struct({
  instId: Schema.String,
  bidPx: Schema.String,
  bidSz: Schema.String,
  askPx: Schema.String,
  askSz: Schema.String,
  ts: Schema.String,
})

/** `subscribe` acks, `error`, `notice` (64008: closing soon for an upgrade) and connection-count events. */
export const Event = Schema.Struct({
  event: Schema.String,
  code: Schema.optional(Schema.String),
  msg: Schema.optional(Schema.String),
})
