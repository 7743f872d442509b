import * as Binance from "../schema/Binance.js"
import * as Guard from "../schema/Guard.js"
import type { Quote, Trade } from "../schema/Market.js"
import * as Decimal from "./Decimal.js"
import type { SymbolMap } from "./SymbolMap.js"

/** What one text frame from a Binance combined stream turned out to be. */
export type Frame =
  | Trade
  | Quote
  | { readonly _tag: "Control"; readonly id: number }
  | { readonly _tag: "ServerError"; readonly message: string }
  | { readonly _tag: "Ignored"; readonly reason: "unsubscribed_symbol" | "unknown_stream" }
  | {
      readonly _tag: "Invalid"
      readonly reason: "malformed_json" | "schema" | "unknown_frame"
      readonly detail: string
    }

const trade = Guard.compile(Binance.TradeFrame)
const aggTrade = Guard.compile(Binance.AggTradeFrame)
const bookTicker = Guard.compile(Binance.BookTickerFrame)
const envelope = Guard.compile(Binance.Envelope)
const control = Guard.compile(Binance.ControlResponse)

const UNSUBSCRIBED = { _tag: "Ignored", reason: "unsubscribed_symbol" } as const
const UNKNOWN_STREAM = { _tag: "Ignored", reason: "unknown_stream" } as const

const invalid = (reason: "malformed_json" | "schema" | "unknown_frame", detail: string): Frame => ({
  _tag: "Invalid",
  reason,
  detail,
})

/** Never throws: anything that is not a trade, quote or control answer comes back as Invalid or Ignored. */
export const makeParser =
  (symbols: SymbolMap) =>
  (raw: string, recvTs: number): Frame => {
    let msg: unknown
    try {
      msg = JSON.parse(raw)
    } catch (e) {
      return invalid("malformed_json", `${(e as Error).message}; frame starts ${JSON.stringify(raw.slice(0, 80))}`)
    }
    if (envelope.is(msg)) return parseStream(msg.stream, msg.data, symbols, recvTs)
    // Errors first: an error answer also has an `id`, and `result: unknown` is satisfied by its absence.
    if (typeof msg === "object" && msg !== null && "error" in msg)
      return { _tag: "ServerError", message: JSON.stringify((msg as { error: unknown }).error) }
    if (control.is(msg)) return { _tag: "Control", id: msg.id }
    return invalid("unknown_frame", JSON.stringify(raw.slice(0, 120)))
  }

const parseStream = (stream: string, data: unknown, symbols: SymbolMap, recvTs: number): Frame => {
  const kind = stream.slice(stream.indexOf("@") + 1)
  switch (kind) {
    case "trade": {
      if (!trade.is(data)) return invalid("schema", `${stream}: ${trade.explain(data)}`)
      const symbol = symbols.unified(data.s)
      if (symbol === undefined) return UNSUBSCRIBED
      return toTrade(symbol, data.t, data, 1, recvTs)
    }
    case "aggTrade": {
      if (!aggTrade.is(data)) return invalid("schema", `${stream}: ${aggTrade.explain(data)}`)
      const symbol = symbols.unified(data.s)
      if (symbol === undefined) return UNSUBSCRIBED
      return toTrade(symbol, data.a, data, data.l - data.f + 1, recvTs)
    }
    case "bookTicker": {
      if (!bookTicker.is(data)) return invalid("schema", `${stream}: ${bookTicker.explain(data)}`)
      const symbol = symbols.unified(data.s)
      if (symbol === undefined) return UNSUBSCRIBED
      return {
        _tag: "Quote",
        exchange: "binance",
        symbol,
        bid: Number(data.b),
        ask: Number(data.a),
        bidQty: Number(data.B),
        askQty: Number(data.A),
        ts: recvTs,
      }
    }
    default:
      return UNKNOWN_STREAM
  }
}

const price: Decimal.Scanned = { units: 0, scale: 0 }
const qty: Decimal.Scanned = { units: 0, scale: 0 }

const toTrade = (
  symbol: string,
  id: number,
  d: { readonly p: string; readonly q: string; readonly m: boolean; readonly T: number },
  count: number,
  recvTs: number,
): Frame => {
  if (!Decimal.scan(d.p, price) || !Decimal.scan(d.q, qty))
    return invalid(
      "schema",
      `${symbol}: price ${JSON.stringify(d.p)} or quantity ${JSON.stringify(d.q)} is not a decimal`,
    )
  return {
    _tag: "Trade",
    exchange: "binance",
    symbol,
    tradeId: String(id),
    seq: id,
    price: Decimal.toNumber(price),
    qty: Decimal.toNumber(qty),
    priceText: d.p,
    qtyText: d.q,
    // `m`: the buyer was the maker, so the taker sold.
    side: d.m ? "sell" : "buy",
    exchangeTs: d.T,
    recvTs,
    isBuyerMaker: d.m,
    count,
  }
}
