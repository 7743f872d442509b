import { Schema } from "effect"

/** WebSocket v2 data message: `trade`, `ticker`, `heartbeat`, `status`, each with `type` snapshot or update. */
export const Envelope = Schema.Struct({
  channel: Schema.String,
  type: Schema.optional(Schema.String),
  data: Schema.Unknown,
})

/**
 * One v2 trade. Kraken sends price and quantity as JSON numbers; the decoder quotes them in the frame text before
 * parsing so that the exact decimal survives, hence strings here.
 */
export const TradeItem = Schema.Struct({
  symbol: Schema.String,
  side: Schema.Literal("buy", "sell"),
  price: Schema.String,
  qty: Schema.String,
  trade_id: Schema.Number,
  timestamp: Schema.String,
})

/** REST `/0/public/Trades`: `[price, volume, time (s), "b"|"s" (taker side), type, misc, trade_id]` per trade. */
export const RestTrade = Schema.Tuple(
  [Schema.String, Schema.String, Schema.Number, Schema.Literal("b", "s"), Schema.String, Schema.String, Schema.Number],
  Schema.Unknown,
)

export const RestTrades = Schema.Struct({
  error: Schema.Array(Schema.String),
  result: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
})

export const TickerItem = Schema.Struct({
  symbol: Schema.String,
  bid: Schema.Number,
  bid_qty: Schema.Number,
  ask: Schema.Number,
  ask_qty: Schema.Number,
  timestamp: Schema.optional(Schema.String),
})

/** Answer to a request (`subscribe`, `pong`): `success` false carries `error`. */
export const MethodResponse = Schema.Struct({
  method: Schema.String,
  success: Schema.optional(Schema.Boolean),
  error: Schema.optional(Schema.String),
})
