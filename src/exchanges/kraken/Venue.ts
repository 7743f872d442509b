import { Either, Schema } from "effect"
import * as Guard from "../../schema/Guard.js"
import { preview } from "../../domain/Limits.js"
import * as Kraken from "./Wire.js"
import type { Quote, Trade } from "../../schema/Market.js"
import type { SymbolMap } from "../../domain/SymbolMap.js"
import {
  anchorAt,
  CONTROL,
  type Decoded,
  type Decoder,
  invalid,
  isoMillis,
  isRecord,
  pageTrades,
  parseJson,
  quoteOf,
  quotesOf,
  type RecordReader,
  type RestRequest,
  type TradeFields,
  type TradeHistory,
  tradeOf,
  tradesOf,
  UNKNOWN_STREAM,
  type Venue,
} from "../Venue.js"

const envelope = Guard.compile(Kraken.Envelope)
const tradeItem = Guard.compile(Kraken.TradeItem)
const tickerItem = Guard.compile(Kraken.TickerItem)
const response = Guard.compile(Kraken.MethodResponse)

/** Kraken's legacy asset codes, still seen in v1 names and some clients: XBT is BTC, XDG is DOGE. */
const LEGACY: ReadonlyArray<readonly [string, string]> = [
  ["BTC", "XBT"],
  ["DOGE", "XDG"],
]

/** v2 names pairs like our unified symbols (`BTC/USD`); the legacy `XBT/USD` is accepted as an alias. */
export const krakenInstrument = (unified: string): string => unified

const legacy = (code: string) => LEGACY.find(([modern]) => modern === code)?.[1] ?? code

const krakenAliases = (unified: string): ReadonlyArray<string> => {
  const [base, quote] = unified.split("/") as [string, string]
  const alias = `${legacy(base)}/${legacy(quote)}`
  return alias === unified ? [] : [alias]
}

/**
 * Kraken v2 writes prices and quantities as JSON numbers, which JSON.parse would round to the nearest double.
 * Quoting them in the text first keeps the exact decimal the exchange sent.
 */
const EXACT_FIELDS = /"(price|qty)":(-?\d[\d.eE+-]*)/g
const quoteNumbers = (raw: string): string => raw.replace(EXACT_FIELDS, '"$1":"$2"')

const subscribe = (instruments: ReadonlyArray<string>): ReadonlyArray<string> =>
  ["trade", "ticker"].map((channel, i) =>
    JSON.stringify({ method: "subscribe", params: { channel, symbol: instruments, snapshot: true }, req_id: i + 1 }),
  )

const makeDecoder =
  (symbols: SymbolMap): Decoder =>
  (raw, recvTs) => {
    const parsed = parseJson(raw.includes('"channel":"trade"') ? quoteNumbers(raw) : raw)
    if (!parsed.ok) return parsed.error
    const msg = parsed.value
    if (envelope.is(msg)) {
      switch (msg.channel) {
        case "trade":
          return Array.isArray(msg.data)
            ? tradesOf("trade", msg.data, symbols, TRADES, recvTs)
            : invalid("schema", () => "trade: data is not a list")
        case "ticker":
          return Array.isArray(msg.data)
            ? quotesOf("ticker", msg.data, symbols, TICKERS, recvTs)
            : invalid("schema", () => "ticker: data is not a list")
        case "heartbeat":
        case "status":
          return CONTROL
        default:
          return UNKNOWN_STREAM
      }
    }
    if (response.is(msg))
      return msg.success === false
        ? { _tag: "ServerError", message: `${msg.method}: ${msg.error ?? "refused"}` }
        : CONTROL
    if (isRecord(msg) && msg.channel === "heartbeat") return CONTROL
    return invalid("unknown_frame", () => preview(raw))
  }

const TRADES: RecordReader<typeof Kraken.TradeItem.Type, TradeFields> = {
  guard: tradeItem,
  instrument: (r) => r.symbol,
  read: (r, symbol) => ({
    exchange: "kraken",
    symbol,
    tradeId: String(r.trade_id),
    seq: Number.isSafeInteger(r.trade_id) ? r.trade_id : -1,
    priceText: r.price,
    qtyText: r.qty,
    side: r.side,
    exchangeTs: isoMillis(r.timestamp),
    count: 1,
  }),
}

/** Older ticker frames carry no timestamp: the receive time stands in. */
const TICKERS: RecordReader<typeof Kraken.TickerItem.Type, Quote | Decoded> = {
  guard: tickerItem,
  instrument: (r) => r.symbol,
  read: (r, symbol, recvTs) =>
    quoteOf(
      "kraken",
      symbol,
      r.bid,
      r.ask,
      r.bid_qty,
      r.ask_qty,
      r.timestamp === undefined ? recvTs : isoMillis(r.timestamp),
    ),
}

/** The REST name of a v2 pair: legacy codes, no slash (`BTC/USD` → `XBTUSD`). */
export const krakenRestPair = (instrument: string): string => instrument.split("/").map(legacy).join("")

const restTrades = Schema.decodeUnknownEither(Kraken.RestTrades)
const restTrade = Schema.decodeUnknownEither(Kraken.RestTrade)
const PAGE = 1_000

/** Seconds with up to nanoseconds as a float: rounded to microseconds first, so `.827` cannot read as `.8269999`. */
const restMillis = (seconds: number) => Math.floor(Math.round(seconds * 1e6) / 1e3)

const readPage = (body: unknown, symbol: string, recvTs: number): ReadonlyArray<Trade> | string => {
  const answer = restTrades(body)
  if (Either.isLeft(answer)) return `Trades answer: ${preview(body)}`
  if (answer.right.error.length > 0) return `Kraken error: ${answer.right.error.join("; ")}`
  const rows = Object.entries(answer.right.result ?? {}).find(([key]) => key !== "last")?.[1] ?? []
  return pageTrades(rows, (row) => {
    const r = restTrade(row)
    if (Either.isLeft(r)) return `Trades row: ${preview(row)}`
    const [price, volume, time, side, , , id] = r.right
    return tradeOf(
      {
        exchange: "kraken",
        symbol,
        tradeId: String(id),
        seq: Number.isSafeInteger(id) ? id : -1,
        priceText: price,
        qtyText: volume,
        side: side === "b" ? "buy" : "sell",
        exchangeTs: restMillis(time),
        count: 1,
      },
      recvTs,
    )
  })
}

const tradesSince = (instrument: string, ts: number): RestRequest => ({
  path: "/0/public/Trades",
  query: { pair: krakenRestPair(instrument), since: Math.floor(ts / 1_000), count: PAGE },
  weight: 1,
})

/**
 * REST `/0/public/Trades` pages by time (`since`, whole seconds), not by id: each page asks from the newest trade's
 * second on, and the trades already held are recognised by id.
 */
export const krakenHistory: TradeHistory = {
  after: (instrument, _afterId, afterTs) => tradesSince(instrument, afterTs),
  exhausted: (read) => read < PAGE,
  since: {
    request: tradesSince,
    anchor: (body, fromTs) => anchorAt(readPage(body, "", 0), fromTs, true),
  },
  read: readPage,
}

export const KrakenVenue: Venue = {
  exchange: "kraken",
  defaults: {
    wsUrl: "wss://ws.kraken.com/v2",
    restUrl: "https://api.kraken.com",
    restWeightPerMinute: 30,
    symbols: ["BTC/USD", "ETH/USD"],
  },
  instrument: krakenInstrument,
  aliases: krakenAliases,
  endpoint: (base) => base,
  symbolsPerConnection: 100,
  subscribe,
  controlIntervalMs: 100,
  ping: '{"method":"ping"}',
  idSpan: () => 1,
  decoder: (symbols) => makeDecoder(symbols),
  history: () => krakenHistory,
  historyReachesBack: true,
}
