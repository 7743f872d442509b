import { Schema } from "effect"

/** Combined-stream envelope: `{"stream":"btcusdt@trade","data":{…}}`. */
export const Envelope = Schema.Struct({ stream: Schema.String, data: Schema.Unknown })

/** `<symbol>@trade`. Older frames also carry buyer/seller order ids `b`/`a`; newer ones do not. */
export const TradeFrame = Schema.Struct({
  e: Schema.Literal("trade"),
  E: Schema.Number,
  s: Schema.String,
  t: Schema.Number,
  p: Schema.String,
  q: Schema.String,
  T: Schema.Number,
  m: Schema.Boolean,
})
export type TradeFrame = typeof TradeFrame.Type

/** A record of REST `GET /api/v3/aggTrades`: `a` is contiguous per symbol; it stands for raw trades `f`..`l`. */
export const AggTradeRecord = Schema.Struct({
  a: Schema.Number,
  p: Schema.String,
  q: Schema.String,
  f: Schema.Number,
  l: Schema.Number,
  T: Schema.Number,
  m: Schema.Boolean,
})

/** `<symbol>@aggTrade`: the REST record inside the event envelope. */
export const AggTradeFrame = Schema.Struct({
  e: Schema.Literal("aggTrade"),
  E: Schema.Number,
  s: Schema.String,
  ...AggTradeRecord.fields,
})
export type AggTradeFrame = typeof AggTradeFrame.Type

/** A record of REST `GET /api/v3/historicalTrades`. */
export const HistoricalTradeRecord = Schema.Struct({
  id: Schema.Number,
  price: Schema.String,
  qty: Schema.String,
  time: Schema.Number,
  isBuyerMaker: Schema.Boolean,
})

/**
 * A row of REST `GET /api/v3/klines`: open time, open, high, low, close, volume, close time, quote volume, trades,
 * taker buy base volume, taker buy quote volume, then fields Binance may add.
 */
export const KlineRow = Schema.Tuple(
  [
    Schema.Number,
    Schema.String,
    Schema.String,
    Schema.String,
    Schema.String,
    Schema.String,
    Schema.Number,
    Schema.String,
    Schema.Number,
    Schema.String,
    Schema.String,
  ],
  Schema.Unknown,
)

/** `<symbol>@bookTicker`: carries no timestamp, so the receive time stands in for it. */
export const BookTickerFrame = Schema.Struct({
  u: Schema.Number,
  s: Schema.String,
  b: Schema.String,
  B: Schema.String,
  a: Schema.String,
  A: Schema.String,
})
export type BookTickerFrame = typeof BookTickerFrame.Type

/** Answer to a SUBSCRIBE/UNSUBSCRIBE request. */
export const ControlResponse = Schema.Struct({ id: Schema.Number, result: Schema.Unknown })
