import { Array as Arr } from "effect"
import * as Bybit from "./Wire.js"
import * as Guard from "../../schema/Guard.js"
import { preview } from "../../domain/Limits.js"
import type { SymbolMap } from "../../domain/SymbolMap.js"
import {
  CONTROL,
  type Decoded,
  type Decoder,
  invalid,
  parseJson,
  refuse,
  quoteOf,
  type RecordReader,
  type TradeFields,
  tradesOf,
  UNKNOWN_STREAM,
  UNSUBSCRIBED,
  type Venue,
} from "../Venue.js"

const envelope = Guard.compile(Bybit.Envelope)
const tradeItem = Guard.compile(Bybit.TradeItem)
const tickerItem = Guard.compile(Bybit.TickerItem)
const opResponse = Guard.compile(Bybit.OpResponse)

/**
 * Bybit names concatenate base and quote whatever the category (`BTC/USDT` spot and `BTC/USDT:USDT` linear are
 * both `BTCUSDT`); the category is chosen by the endpoint in BYBIT_WS_URL (…/v5/public/spot, /linear, /inverse).
 */
export const bybitInstrument = (unified: string): string => unified.split(":")[0]!.replace("/", "")

/** Spot accepts at most 10 topics per subscribe request. */
const TOPICS_PER_MESSAGE = 10

const subscribe = (instruments: ReadonlyArray<string>): ReadonlyArray<string> => {
  const topics = instruments.flatMap((i) => [`publicTrade.${i}`, `tickers.${i}`])
  return Arr.chunksOf(topics, TOPICS_PER_MESSAGE).map((chunk, i) =>
    JSON.stringify({ op: "subscribe", args: chunk, req_id: String(i + 1) }),
  )
}

interface Book {
  readonly bid1Price: string | undefined
  readonly bid1Size: string | undefined
  readonly ask1Price: string | undefined
  readonly ask1Size: string | undefined
}

/**
 * Linear and inverse `tickers` send a snapshot, then deltas holding only the fields that changed: the book top is
 * the last snapshot with every later delta merged in. Spot tickers carry no book top at all (`no_book`).
 */
const makeDecoder = (symbols: SymbolMap): Decoder => {
  const books = new Map<string, Book>()

  const tickers = (type: string | undefined, data: unknown, ts: number): Decoded => {
    if (!tickerItem.is(data)) return refuse("tickers", tickerItem, data)
    const symbol = symbols.unified(data.symbol)
    if (symbol === undefined) return UNSUBSCRIBED
    const previous = type === "delta" ? books.get(symbol) : undefined
    if (type === "delta" && previous === undefined)
      return invalid("schema", () => `tickers.${data.symbol}: delta before any snapshot`)
    const book: Book = {
      bid1Price: data.bid1Price ?? previous?.bid1Price,
      bid1Size: data.bid1Size ?? previous?.bid1Size,
      ask1Price: data.ask1Price ?? previous?.ask1Price,
      ask1Size: data.ask1Size ?? previous?.ask1Size,
    }
    books.set(symbol, book)
    return quoteOf(
      "bybit",
      symbol,
      Number(book.bid1Price ?? Number.NaN),
      Number(book.ask1Price ?? Number.NaN),
      Number(book.bid1Size ?? Number.NaN),
      Number(book.ask1Size ?? Number.NaN),
      ts,
    )
  }

  return (raw, recvTs) => {
    const parsed = parseJson(raw)
    if (!parsed.ok) return parsed.error
    const msg = parsed.value
    if (envelope.is(msg)) {
      const dot = msg.topic.indexOf(".")
      switch (msg.topic.slice(0, dot)) {
        case "publicTrade":
          return Array.isArray(msg.data)
            ? tradesOf("publicTrade", msg.data, symbols, TRADES, recvTs)
            : invalid("schema", () => `${msg.topic}: data is not a list`)
        case "tickers":
          return tickers(msg.type, msg.data, msg.ts ?? recvTs)
        default:
          return UNKNOWN_STREAM
      }
    }
    if (opResponse.is(msg))
      return msg.success === false
        ? { _tag: "ServerError", message: `${msg.op}: ${msg.ret_msg ?? "refused"}` }
        : CONTROL
    return invalid("unknown_frame", () => preview(raw))
  }
}

const TRADES: RecordReader<typeof Bybit.TradeItem.Type, TradeFields> = {
  guard: tradeItem,
  instrument: (r) => r.s,
  read: (r, symbol) => ({
    exchange: "bybit",
    symbol,
    tradeId: r.i,
    // Ids are UUIDs on derivatives and exceed 2^53 on spot: never ordered numbers, so dedupe by text only.
    seq: -1,
    priceText: r.p,
    qtyText: r.v,
    side: r.S === "Buy" ? "buy" : "sell",
    exchangeTs: r.T,
    count: 1,
  }),
}

export const BybitVenue: Venue = {
  exchange: "bybit",
  defaults: {
    wsUrl: "wss://stream.bybit.com/v5/public/spot",
    restUrl: "https://api.bybit.com",
    restWeightPerMinute: 300,
    symbols: ["BTC/USDT", "ETH/USDT"],
  },
  instrument: bybitInstrument,
  endpoint: (base) => base,
  symbolsPerConnection: 100,
  subscribe,
  controlIntervalMs: 100,
  // Bybit drops connections that send nothing for a while; it asks for a ping every 20 s.
  ping: '{"op":"ping"}',
  decoder: (symbols) => makeDecoder(symbols),
}
