import * as Coinbase from "../../schema/Coinbase.js"
import * as Guard from "../../schema/Guard.js"
import type { Quote, Trade } from "../../schema/Market.js"
import type { SymbolMap } from "../SymbolMap.js"
import {
  batchOf,
  byIdWithinSymbol,
  CONTROL,
  type Decoded,
  type Decoder,
  invalid,
  isoMillis,
  isTrade,
  parseJson,
  quoteOf,
  seqOf,
  tradeOf,
  UNKNOWN_STREAM,
  UNSUBSCRIBED,
  type Venue,
} from "./Venue.js"

const envelope = Guard.compile(Coinbase.Envelope)
const tradesEvent = Guard.compile(Coinbase.TradesEvent)
const tradeItem = Guard.compile(Coinbase.TradeItem)
const tickerEvent = Guard.compile(Coinbase.TickerEvent)
const tickerItem = Guard.compile(Coinbase.TickerItem)
const errorMessage = Guard.compile(Coinbase.ErrorMessage)

/** Coinbase products join base and quote with a dash: `BTC/USD` → `BTC-USD`. */
export const coinbaseInstrument = (unified: string): string => unified.replace("/", "-")

/**
 * One subscribe message per channel (the API takes one channel per message). `heartbeats` keeps channels of quiet
 * products open: without it Coinbase closes them after 60–90 s without updates.
 */
const subscribe = (instruments: ReadonlyArray<string>): ReadonlyArray<string> =>
  ["heartbeats", "market_trades", "ticker"].map((channel) =>
    JSON.stringify({ type: "subscribe", product_ids: instruments, channel }),
  )

const makeDecoder =
  (symbols: SymbolMap): Decoder =>
  (raw, recvTs) => {
    const parsed = parseJson(raw)
    if (!parsed.ok) return parsed.error
    const msg = parsed.value
    if (!envelope.is(msg)) {
      if (errorMessage.is(msg)) return { _tag: "ServerError", message: msg.message }
      return invalid("unknown_frame", JSON.stringify(raw.slice(0, 120)))
    }
    if (!Array.isArray(msg.events)) return invalid("schema", `${msg.channel}: events is not a list`)
    switch (msg.channel) {
      case "market_trades":
        return trades(msg.events, symbols, recvTs)
      case "ticker":
        return tickers(msg.events, symbols, msg.timestamp === undefined ? recvTs : isoMillis(msg.timestamp))
      case "heartbeats":
      case "subscriptions":
        return CONTROL
      default:
        return UNKNOWN_STREAM
    }
  }

const trades = (events: ReadonlyArray<unknown>, symbols: SymbolMap, recvTs: number): Decoded => {
  const out: Array<Trade> = []
  let unsubscribed = false
  for (const event of events) {
    if (!tradesEvent.is(event) || !Array.isArray(event.trades))
      return invalid("schema", `market_trades: ${tradesEvent.explain(event)}`)
    for (const item of event.trades) {
      if (!tradeItem.is(item)) return invalid("schema", `market_trades: ${tradeItem.explain(item)}`)
      const symbol = symbols.unified(item.product_id)
      if (symbol === undefined) {
        unsubscribed = true
        continue
      }
      const t = tradeOf(
        {
          exchange: "coinbase",
          symbol,
          tradeId: item.trade_id,
          seq: seqOf(item.trade_id),
          priceText: item.price,
          qtyText: item.size,
          side: item.side === "BUY" ? "sell" : "buy",
          exchangeTs: isoMillis(item.time),
          count: 1,
        },
        recvTs,
      )
      if (!isTrade(t)) return t
      out.push(t)
    }
  }
  if (out.length === 0) return unsubscribed ? UNSUBSCRIBED : CONTROL
  // Updates list trades newest first; the aggregator and the gap check want them in id order.
  out.sort(byIdWithinSymbol)
  return batchOf(out)
}

const tickers = (events: ReadonlyArray<unknown>, symbols: SymbolMap, ts: number): Decoded => {
  const out: Array<Quote> = []
  let skipped: Decoded = UNSUBSCRIBED
  for (const event of events) {
    if (!tickerEvent.is(event) || !Array.isArray(event.tickers))
      return invalid("schema", `ticker: ${tickerEvent.explain(event)}`)
    for (const item of event.tickers) {
      if (!tickerItem.is(item)) return invalid("schema", `ticker: ${tickerItem.explain(item)}`)
      const symbol = symbols.unified(item.product_id)
      if (symbol === undefined) continue
      const q = quoteOf(
        "coinbase",
        symbol,
        Number(item.best_bid),
        Number(item.best_ask),
        Number(item.best_bid_quantity ?? Number.NaN),
        Number(item.best_ask_quantity ?? Number.NaN),
        ts,
      )
      if (q._tag === "Quote") out.push(q)
      else skipped = q
    }
  }
  return out.length === 0 ? skipped : batchOf(out)
}

export const CoinbaseVenue: Venue = {
  exchange: "coinbase",
  instrument: coinbaseInstrument,
  endpoint: (base) => base,
  symbolsPerConnection: () => 100,
  subscribe,
  controlIntervalMs: 100,
  idSpan: () => 1,
  decoder: (symbols) => makeDecoder(symbols),
}
