import * as Guard from "../../schema/Guard.js"
import * as Kraken from "../../schema/Kraken.js"
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
  isRecord,
  isTrade,
  parseJson,
  quoteOf,
  tradeOf,
  UNKNOWN_STREAM,
  UNSUBSCRIBED,
  type Venue,
} from "./Venue.js"

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

const krakenAliases = (unified: string): ReadonlyArray<string> => {
  const [base, quote] = unified.split("/") as [string, string]
  const legacy = (code: string) => LEGACY.find(([modern]) => modern === code)?.[1] ?? code
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
            ? trades(msg.data, symbols, recvTs)
            : invalid("schema", "trade: data is not a list")
        case "ticker":
          return Array.isArray(msg.data)
            ? tickers(msg.data, symbols, recvTs)
            : invalid("schema", "ticker: data is not a list")
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
    return invalid("unknown_frame", JSON.stringify(raw.slice(0, 120)))
  }

const trades = (data: ReadonlyArray<unknown>, symbols: SymbolMap, recvTs: number): Decoded => {
  const out: Array<Trade> = []
  for (const item of data) {
    if (!tradeItem.is(item)) return invalid("schema", `trade: ${tradeItem.explain(item)}`)
    const symbol = symbols.unified(item.symbol)
    if (symbol === undefined) continue
    const t = tradeOf(
      {
        exchange: "kraken",
        symbol,
        tradeId: String(item.trade_id),
        seq: Number.isSafeInteger(item.trade_id) ? item.trade_id : -1,
        priceText: item.price,
        qtyText: item.qty,
        side: item.side,
        exchangeTs: isoMillis(item.timestamp),
        count: 1,
      },
      recvTs,
    )
    if (!isTrade(t)) return t
    out.push(t)
  }
  if (out.length === 0) return data.length === 0 ? CONTROL : UNSUBSCRIBED
  out.sort(byIdWithinSymbol)
  return batchOf(out)
}

const tickers = (data: ReadonlyArray<unknown>, symbols: SymbolMap, recvTs: number): Decoded => {
  const out: Array<Quote> = []
  let skipped: Decoded = UNSUBSCRIBED
  for (const item of data) {
    if (!tickerItem.is(item)) return invalid("schema", `ticker: ${tickerItem.explain(item)}`)
    const symbol = symbols.unified(item.symbol)
    if (symbol === undefined) continue
    const ts = item.timestamp === undefined ? recvTs : isoMillis(item.timestamp)
    const q = quoteOf("kraken", symbol, item.bid, item.ask, item.bid_qty, item.ask_qty, ts)
    if (q._tag === "Quote") out.push(q)
    else skipped = q
  }
  return out.length === 0 ? skipped : batchOf(out)
}

export const KrakenVenue: Venue = {
  exchange: "kraken",
  instrument: krakenInstrument,
  aliases: krakenAliases,
  endpoint: (base) => base,
  symbolsPerConnection: () => 100,
  subscribe,
  controlIntervalMs: 100,
  ping: '{"method":"ping"}',
  idSpan: () => 1,
  decoder: (symbols) => makeDecoder(symbols),
}
