import * as Coinbase from "./Wire.js"
import * as Guard from "../../schema/Guard.js"
import { preview } from "../../domain/Limits.js"
import type { Quote, Trade } from "../../schema/Market.js"
import type { SymbolMap } from "../../domain/SymbolMap.js"
import {
  anchorAt,
  CONTROL,
  type Decoded,
  type Decoder,
  invalid,
  isoMillis,
  pageTrades,
  parseJson,
  refuse,
  quoteOf,
  quotesOf,
  type RecordReader,
  seqOf,
  type TradeFields,
  type TradeHistory,
  tradeOf,
  tradesOf,
  UNKNOWN_STREAM,
  type Venue,
} from "../Venue.js"

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
      return invalid("unknown_frame", () => preview(raw))
    }
    if (!Array.isArray(msg.events)) return invalid("schema", () => `${msg.channel}: events is not a list`)
    switch (msg.channel) {
      case "market_trades": {
        // Updates list trades newest first; tradesOf puts them in id order.
        const records = eventRecords("market_trades", msg.events, tradesEvent, (e) => e.trades)
        return Array.isArray(records) ? tradesOf("market_trades", records, symbols, TRADES, recvTs) : records
      }
      case "ticker": {
        const records = eventRecords("ticker", msg.events, tickerEvent, (e) => e.tickers)
        const ts = msg.timestamp === undefined ? recvTs : isoMillis(msg.timestamp)
        return Array.isArray(records) ? quotesOf("ticker", records, symbols, TICKERS, ts) : records
      }
      case "heartbeats":
      case "subscriptions":
        return CONTROL
      default:
        return UNKNOWN_STREAM
    }
  }

/** Records of every event in a message, each event checked first (`trades` or `tickers` lists). */
const eventRecords = <E>(
  channel: string,
  events: ReadonlyArray<unknown>,
  guard: Guard.Guard<E>,
  list: (e: E) => unknown,
): Array<unknown> | Decoded => {
  const records: Array<unknown> = []
  for (const event of events) {
    const items = guard.is(event) ? list(event) : undefined
    if (!Array.isArray(items)) return refuse(channel, guard, event)
    records.push(...items)
  }
  return records
}

const TRADES: RecordReader<Coinbase.TradeItem, TradeFields> = {
  guard: tradeItem,
  instrument: (r) => r.product_id,
  read: (r, symbol) => ({
    exchange: "coinbase",
    symbol,
    tradeId: r.trade_id,
    seq: seqOf(r.trade_id),
    priceText: r.price,
    qtyText: r.size,
    side: r.side === "BUY" ? "sell" : "buy",
    exchangeTs: isoMillis(r.time),
    count: 1,
  }),
}

/** Tickers carry no time of their own: the message's timestamp stands in. */
const TICKERS: RecordReader<typeof Coinbase.TickerItem.Type, Quote | Decoded> = {
  guard: tickerItem,
  instrument: (r) => r.product_id,
  read: (r, symbol, ts) =>
    quoteOf(
      "coinbase",
      symbol,
      Number(r.best_bid),
      Number(r.best_ask),
      Number(r.best_bid_quantity ?? Number.NaN),
      Number(r.best_ask_quantity ?? Number.NaN),
      ts,
    ),
}

const restTrade = Guard.compile(Coinbase.RestTrade)
const PAGE = 1_000

/** Newest first: the page's trades in ascending id order, or why it cannot be read. */
const readPage = (body: unknown, symbol: string, recvTs: number): ReadonlyArray<Trade> | string =>
  pageTrades(Array.isArray(body) ? [...body].reverse() : body, (r) =>
    restTrade.is(r)
      ? tradeOf(
          {
            exchange: "coinbase",
            symbol,
            tradeId: String(r.trade_id),
            seq: r.trade_id,
            priceText: r.price,
            qtyText: r.size,
            side: r.side === "buy" ? "sell" : "buy",
            exchangeTs: isoMillis(r.time),
            count: 1,
          },
          recvTs,
        )
      : `trades record: ${restTrade.explain(r)}`,
  )

/**
 * Exchange REST `/products/{id}/trades` (public, about 10 requests a second): it pages backwards, `after=N` giving the
 * newest trades below id N, so the page after id X asks below X + 1001. It cannot be asked by time: a symbol not
 * seen yet is found in the newest page, which must reach back to the time asked for.
 */
export const coinbaseHistory: TradeHistory = {
  after: (instrument, afterId) => ({
    path: `/products/${instrument}/trades`,
    query: { after: afterId + PAGE + 1, limit: PAGE },
    weight: 1,
  }),
  exhausted: (_read, fresh) => fresh < PAGE,
  since: {
    request: (instrument) => ({ path: `/products/${instrument}/trades`, query: { limit: PAGE }, weight: 1 }),
    anchor: (body, fromTs) => {
      const trades = readPage(body, "", 0)
      return anchorAt(trades, fromTs, typeof trades === "string" || trades.length < PAGE)
    },
  },
  read: readPage,
}

export const CoinbaseVenue: Venue = {
  exchange: "coinbase",
  defaults: {
    wsUrl: "wss://advanced-trade-ws.coinbase.com",
    restUrl: "https://api.exchange.coinbase.com",
    restWeightPerMinute: 300,
    symbols: ["BTC/USD", "ETH/USD"],
  },
  instrument: coinbaseInstrument,
  endpoint: (base) => base,
  symbolsPerConnection: 100,
  subscribe,
  controlIntervalMs: 100,
  idSpan: () => 1,
  decoder: (symbols) => makeDecoder(symbols),
  history: () => coinbaseHistory,
}
