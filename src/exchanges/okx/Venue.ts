import { Array as Arr } from "effect"
import * as Guard from "../../schema/Guard.js"
import { preview } from "../../domain/Limits.js"
import type { Quote } from "../../schema/Market.js"
import * as Okx from "./Wire.js"
import type { SymbolMap } from "../../domain/SymbolMap.js"
import {
  CONTROL,
  type Decoded,
  type Decoder,
  invalid,
  parseJson,
  refuse,
  quoteOf,
  quotesOf,
  type RecordReader,
  seqOf,
  type TradeFields,
  tradesOf,
  UNKNOWN_STREAM,
  type Venue,
} from "../Venue.js"

const push = Guard.compile(Okx.Push)
const arg = Guard.compile(Okx.Arg)
const tradeItem = Guard.compile(Okx.TradeItem)
const tickerItem = Guard.compile(Okx.TickerItem)
const event = Guard.compile(Okx.Event)

/**
 * Unified symbols follow ccxt: spot `BTC/USDT` is `BTC-USDT`; a perpetual `BTC/USDT:USDT` is `BTC-USDT-SWAP`; a
 * dated future `BTC/USD:BTC-210924` is `BTC-USD-210924`; an option `BTC/USD:BTC-210924-66000-C` keeps its suffix.
 */
export const okxInstrument = (unified: string): string => {
  const [pair, settle] = unified.split(":") as [string, string | undefined]
  const base = pair.replace("/", "-")
  if (settle === undefined) return base
  const dash = settle.indexOf("-")
  return dash < 0 ? `${base}-SWAP` : `${base}${settle.slice(dash)}`
}

/** The inverse of okxInstrument: inverse contracts (quoted in USD) settle in the base currency, linear ones in the quote. */
export const okxUnified = (instId: string): string => {
  const [base, quote, ...rest] = instId.split("-") as [string, string, ...Array<string>]
  if (rest.length === 0) return `${base}/${quote}`
  const settle = quote === "USD" ? base : quote
  return rest[0] === "SWAP" ? `${base}/${quote}:${settle}` : `${base}/${quote}:${settle}-${rest.join("-")}`
}

/** OKX limits the size of a request; 50 channel arguments per subscribe stays far below it. */
const ARGS_PER_MESSAGE = 50

const subscribe = (instruments: ReadonlyArray<string>): ReadonlyArray<string> => {
  const args = instruments.flatMap((instId) => [
    { channel: "trades", instId },
    { channel: "tickers", instId },
  ])
  return Arr.chunksOf(args, ARGS_PER_MESSAGE).map((chunk) => JSON.stringify({ op: "subscribe", args: chunk }))
}

/** Notice 64008: the server will close the connection soon for an upgrade. */
const UPGRADE_NOTICE = "64008"

const makeDecoder =
  (symbols: SymbolMap): Decoder =>
  (raw, recvTs) => {
    // The answer to the text keepalive "ping" is the bare text "pong", not JSON.
    if (raw === "pong") return CONTROL
    const parsed = parseJson(raw)
    if (!parsed.ok) return parsed.error
    const msg = parsed.value
    // Events (acks, errors, notices) first: a push schema's `data: unknown` is satisfied by its absence.
    if (event.is(msg)) {
      if (msg.event === "error") return { _tag: "ServerError", message: `${msg.code ?? "?"} ${msg.msg ?? ""}`.trim() }
      if (msg.event === "notice" && msg.code === UPGRADE_NOTICE)
        return { _tag: "Shutdown", detail: msg.msg ?? "notice 64008" }
      return CONTROL
    }
    if (push.is(msg)) {
      if (!arg.is(msg.arg)) return refuse("arg", arg, msg.arg)
      const channel = msg.arg.channel
      if (!Array.isArray(msg.data)) return invalid("schema", () => `${channel}: data is not a list`)
      switch (msg.arg.channel) {
        case "trades":
        case "trades-all":
          return tradesOf("trades", msg.data, symbols, TRADES, recvTs)
        case "tickers":
          return quotesOf("tickers", msg.data, symbols, TICKERS, recvTs)
        default:
          return UNKNOWN_STREAM
      }
    }
    return invalid("unknown_frame", () => preview(raw))
  }

const TRADES: RecordReader<typeof Okx.TradeItem.Type, TradeFields> = {
  guard: tradeItem,
  instrument: (r) => r.instId,
  read: (r, symbol) => ({
    exchange: "okx",
    symbol,
    tradeId: r.tradeId,
    seq: seqOf(r.tradeId),
    priceText: r.px,
    qtyText: r.sz,
    side: r.side,
    exchangeTs: Number(r.ts),
    count: r.count === undefined ? 1 : Number(r.count),
  }),
}

/** An empty book side comes as "" (Number("") would read as 0). */
const bookNumber = (s: string) => (s === "" ? Number.NaN : Number(s))

const TICKERS: RecordReader<typeof Okx.TickerItem.Type, Quote | Decoded> = {
  guard: tickerItem,
  instrument: (r) => r.instId,
  read: (r, symbol) =>
    quoteOf(
      "okx",
      symbol,
      bookNumber(r.bidPx),
      bookNumber(r.askPx),
      bookNumber(r.bidSz),
      bookNumber(r.askSz),
      Number(r.ts),
    ),
}

export const OkxVenue: Venue = {
  exchange: "okx",
  defaults: {
    wsUrl: "wss://ws.okx.com:8443/ws/v5/public",
    restUrl: "https://www.okx.com",
    restWeightPerMinute: 300,
    symbols: ["BTC/USDT", "ETH/USDT"],
  },
  instrument: okxInstrument,
  endpoint: (base) => base,
  symbolsPerConnection: 100,
  subscribe,
  // Subscribe requests are rate limited per connection; a few per second is safe.
  controlIntervalMs: 350,
  // OKX closes a connection that receives nothing for 30 s; the keepalive is the text "ping".
  ping: "ping",
  idSpan: (t) => t.count,
  decoder: (symbols) => makeDecoder(symbols),
}
