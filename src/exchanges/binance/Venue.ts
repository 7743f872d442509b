import { Array as Arr, Config, Either, ParseResult, Schema } from "effect"
import * as Binance from "./Wire.js"
import * as Guard from "../../schema/Guard.js"
import * as Decimal from "../../domain/Decimal.js"
import { preview } from "../../domain/Limits.js"
import type { Trade } from "../../schema/Market.js"
import type { SymbolMap } from "../../domain/SymbolMap.js"
import { carries, emptyScan, FIELD, KIND, type ScannedEvent, scanEvent } from "./Scan.js"
import {
  type CandleHistory,
  CONTROL,
  type Decoded,
  type Decoder,
  type TradeHistory,
  invalid,
  isRecord,
  pageTrades,
  parseJson,
  quoteOf,
  refuse,
  tradeOf,
  UNKNOWN_STREAM,
  UNSUBSCRIBED,
  type Venue,
} from "../Venue.js"

const trade = Guard.compile(Binance.TradeFrame)
const aggTrade = Guard.compile(Binance.AggTradeFrame)
const bookTicker = Guard.compile(Binance.BookTickerFrame)
const envelope = Guard.compile(Binance.Envelope)
const control = Guard.compile(Binance.ControlResponse)
const aggRecord = Guard.compile(Binance.AggTradeRecord)
const historicalRecord = Guard.compile(Binance.HistoricalTradeRecord)

/** Binance allows 1024 streams per connection; each symbol takes two (trades and book ticker). */
const STREAMS_PER_CONNECTION = 1024
const STREAMS_PER_SYMBOL = 2
const STREAMS_PER_MESSAGE = 100

/** Binance spot names concatenate base and quote: `BTC/USDT` → `BTCUSDT`. */
export const binanceInstrument = (unified: string): string => unified.replace("/", "")

export interface BinanceSettings {
  /** `BINANCE_TRADE_STREAM`: raw trades, or aggTrades (fills of one taker order at one price, under one id). */
  readonly tradeStream: "trade" | "aggTrade"
}

export const binanceSettings: Config.Config<BinanceSettings> = Config.all({
  tradeStream: Config.literal("trade", "aggTrade")("BINANCE_TRADE_STREAM").pipe(Config.withDefault("trade")),
})

export const streamNames = (
  instruments: ReadonlyArray<string>,
  tradeStream: BinanceSettings["tradeStream"],
): ReadonlyArray<string> =>
  instruments.flatMap((i) => {
    const name = i.toLowerCase()
    return [`${name}@${tradeStream}`, `${name}@bookTicker`]
  })

export const subscribeMessages = (streams: ReadonlyArray<string>): ReadonlyArray<string> =>
  Arr.chunksOf(streams, STREAMS_PER_MESSAGE).map((chunk, i) =>
    JSON.stringify({ method: "SUBSCRIBE", params: chunk, id: i + 1 }),
  )

/** The combined-stream endpoint, whose frames name their stream; BINANCE_WS_URL may give the host or the full path. */
export const combinedStreamUrl = (base: string): string =>
  /\/stream\/?$/.test(base) ? base : `${base.replace(/\/+$/, "")}/stream`

const isShutdown = (u: Record<string, unknown>): boolean => u.e === "serverShutdown" || u.event === "serverShutdown"

const TRADE_FIELDS = FIELD.e | FIELD.s | FIELD.t | FIELD.p | FIELD.q | FIELD.T | FIELD.m | FIELD.E
const AGG_TRADE_FIELDS =
  FIELD.e | FIELD.s | FIELD.a | FIELD.p | FIELD.q | FIELD.f | FIELD.l | FIELD.T | FIELD.m | FIELD.E

const BOOK_TICKER_FIELDS = FIELD.u | FIELD.s | FIELD.b | FIELD.B | FIELD.aStr | FIELD.A

/**
 * A trade, aggTrade or bookTicker frame in the compact shape, decoded as `parseStream` would decode it; undefined
 * for any frame whose decoding is the general path's to decide (other streams, a missing or mistyped field).
 */
const decodeScanned = (scan: ScannedEvent, symbols: SymbolMap, recvTs: number): Decoded | undefined => {
  const kind = scan.stream
  const complete =
    kind === KIND.trade
      ? scan.e === KIND.trade && carries(scan, TRADE_FIELDS)
      : kind === KIND.aggTrade
        ? scan.e === KIND.aggTrade && carries(scan, AGG_TRADE_FIELDS)
        : kind === KIND.bookTicker && carries(scan, BOOK_TICKER_FIELDS)
  if (!complete) return undefined
  const symbol = symbols.unified(scan.s)
  if (symbol === undefined) return UNSUBSCRIBED
  return kind === KIND.trade
    ? toTrade(symbol, scan.t, scan, 1, recvTs)
    : kind === KIND.aggTrade
      ? toTrade(symbol, scan.a, scan, scan.l - scan.f + 1, recvTs)
      : toQuote(symbol, scan.b, scan.aStr, scan.B, scan.A, recvTs)
}

/**
 * Never throws: anything that is not a trade, quote or control answer comes back as Invalid or Ignored. Trades
 * and book tickers in the compact shape are read by `scanEvent`; every other frame, and any that shape does not
 * settle, by the general path, which decides as `decodeGeneral` alone would (test/domain/BinanceScan.test.ts holds
 * the two equal).
 */
export const makeParser = (symbols: SymbolMap): Decoder => {
  const scan = emptyScan()
  const general = decodeGeneral(symbols)
  return (raw, recvTs) => (scanEvent(raw, scan) && decodeScanned(scan, symbols, recvTs)) || general(raw, recvTs)
}

/** Every frame through JSON.parse and the schema. */
export const decodeGeneral =
  (symbols: SymbolMap): Decoder =>
  (raw, recvTs) => {
    const parsed = parseJson(raw)
    if (!parsed.ok) return parsed.error
    const msg = parsed.value
    if (envelope.is(msg)) return parseStream(msg.stream, msg.data, symbols, recvTs)
    if (!isRecord(msg)) return invalid("unknown_frame", () => preview(raw))
    // Errors first: an error answer also has an `id`, and `result: unknown` is satisfied by its absence.
    if ("error" in msg) return { _tag: "ServerError", message: preview(msg.error) }
    if (isShutdown(msg)) return { _tag: "Shutdown", detail: "serverShutdown" }
    if (control.is(msg)) return CONTROL
    return invalid("unknown_frame", () => preview(raw))
  }

const parseStream = (stream: string, data: unknown, symbols: SymbolMap, recvTs: number): Decoded => {
  const kind = stream.slice(stream.indexOf("@") + 1)
  switch (kind) {
    case "trade": {
      if (!trade.is(data)) return refuse(stream, trade, data)
      const symbol = symbols.unified(data.s)
      if (symbol === undefined) return UNSUBSCRIBED
      return toTrade(symbol, data.t, data, 1, recvTs)
    }
    case "aggTrade": {
      if (!aggTrade.is(data)) return refuse(stream, aggTrade, data)
      const symbol = symbols.unified(data.s)
      if (symbol === undefined) return UNSUBSCRIBED
      return toTrade(symbol, data.a, data, data.l - data.f + 1, recvTs)
    }
    case "bookTicker": {
      if (!bookTicker.is(data)) return refuse(stream, bookTicker, data)
      const symbol = symbols.unified(data.s)
      if (symbol === undefined) return UNSUBSCRIBED
      return toQuote(symbol, data.b, data.a, data.B, data.A, recvTs)
    }
    default:
      return isRecord(data) && isShutdown(data) ? { _tag: "Shutdown", detail: "serverShutdown" } : UNKNOWN_STREAM
  }
}

/** A book ticker carries no time of its own: it is stamped with its arrival. */
const toQuote = (symbol: string, bid: string, ask: string, bidQty: string, askQty: string, recvTs: number) =>
  quoteOf(
    "binance",
    symbol,
    Decimal.numberOf(bid),
    Decimal.numberOf(ask),
    Decimal.numberOf(bidQty),
    Decimal.numberOf(askQty),
    recvTs,
  )

export const toTrade = (
  symbol: string,
  id: number,
  d: { readonly p: string; readonly q: string; readonly m: boolean; readonly T: number },
  count: number,
  recvTs: number,
): Decoded =>
  tradeOf(
    {
      exchange: "binance",
      symbol,
      tradeId: String(id),
      seq: id,
      priceText: d.p,
      qtyText: d.q,
      // `m`: the buyer was the maker, so the taker sold.
      side: d.m ? "sell" : "buy",
      exchangeTs: d.T,
      count,
      isBuyerMaker: d.m,
    },
    recvTs,
  )

/** Binance's REST limit is 1,000 records per page for both histories. */
const PAGE = 1_000

/**
 * `/api/v3/aggTrades` (weight 2) when the feed reads aggTrades, `/api/v3/historicalTrades` (weight 25) when it
 * reads raw trades: the ids must be the ones the stream numbers.
 */
export const binanceHistory = (settings: BinanceSettings): TradeHistory => {
  const agg = settings.tradeStream === "aggTrade"
  return {
    after: (instrument, afterId) => ({
      path: agg ? "/api/v3/aggTrades" : "/api/v3/historicalTrades",
      query: { symbol: instrument, fromId: afterId + 1, limit: PAGE },
      weight: agg ? 2 : 25,
    }),
    exhausted: (read) => read < PAGE,
    // Only aggTrades can be asked by time (a window of at most an hour); the first one's ids lead on to either history.
    since: {
      request: (instrument, fromTs) => ({
        path: "/api/v3/aggTrades",
        query: { symbol: instrument, startTime: fromTs, endTime: fromTs + 3_600_000 - 1, limit: 1 },
        weight: 2,
      }),
      anchor: (body) => {
        const first: unknown = Array.isArray(body) ? body[0] : undefined
        if (!aggRecord.is(first)) return undefined
        return (agg ? first.a : first.f) - 1
      },
    },
    read: (body, symbol, recvTs) =>
      pageTrades(body, (r) => {
        if (agg)
          return aggRecord.is(r)
            ? toTrade(symbol, r.a, r, r.l - r.f + 1, recvTs)
            : `aggTrades record: ${aggRecord.explain(r)}`
        return historicalRecord.is(r)
          ? toTrade(symbol, r.id, { p: r.price, q: r.qty, m: r.isBuyerMaker, T: r.time }, 1, recvTs)
          : `historicalTrades record: ${historicalRecord.explain(r)}`
      }),
  }
}

const klineRows = Schema.decodeUnknownEither(Schema.Array(Binance.KlineRow))

/** `/api/v3/klines` (weight 2 for up to 1000 minutes): Binance's 1m candles follow trade time, as ours do. */
export const binanceCandles: CandleHistory = {
  maxMinutes: 1_000,
  request: (instrument, fromTs, toTs) => ({
    path: "/api/v3/klines",
    query: { symbol: instrument, interval: "1m", startTime: fromTs, endTime: toTs, limit: 1_000 },
    weight: 2,
  }),
  read: (body) =>
    Either.match(klineRows(body), {
      onLeft: (e) => `klines: ${ParseResult.TreeFormatter.formatErrorSync(e).replace(/\s+/g, " ").slice(0, 300)}`,
      onRight: (rows) =>
        rows.map(([openTime, open, high, low, close, volume, , quoteVolume, trades, takerBuyBase, takerBuyQuote]) => ({
          openTime,
          open,
          high,
          low,
          close,
          volume,
          quoteVolume,
          trades,
          takerBuyBase,
          takerBuyQuote,
        })),
    }),
}

export const BinanceVenue: Venue<BinanceSettings> = {
  exchange: "binance",
  defaults: {
    wsUrl: "wss://stream.binance.com:9443",
    restUrl: "https://api.binance.com",
    restWeightPerMinute: 3_000,
    symbols: ["BTC/USDT", "ETH/USDT"],
  },
  instrument: binanceInstrument,
  endpoint: combinedStreamUrl,
  settings: binanceSettings,
  symbolsPerConnection: STREAMS_PER_CONNECTION / STREAMS_PER_SYMBOL,
  subscribe: (instruments, settings) => subscribeMessages(streamNames(instruments, settings.tradeStream)),
  // Binance accepts 5 control messages per second per connection; stay below it.
  controlIntervalMs: 250,
  idSpan: (_: Trade) => 1,
  maxConnectionMs: 24 * 3_600_000,
  decoder: (symbols) => makeParser(symbols),
  history: binanceHistory,
  historyReachesBack: true,
  candles: binanceCandles,
}
