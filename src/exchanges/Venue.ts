import { type Config, Effect } from "effect"
import type { ExchangeId, Quote, Side, Trade } from "../schema/Market.js"
import type { Guard } from "../schema/Guard.js"
import * as Decimal from "../domain/Decimal.js"
import {
  EARLIEST_TRADE_TS,
  MAX_DECIMAL_CHARS,
  MAX_EXPLAIN_DEPTH,
  isoOrNumber,
  MAX_ID_CHARS,
  nestsDeeperThan,
  preview,
  timeRefusal,
} from "../domain/Limits.js"
import type { SymbolMap } from "../domain/SymbolMap.js"
import type { VenueCandle } from "../domain/Reconciliation.js"

/** What one text frame from an exchange turned out to be. */
export type Decoded =
  | Trade
  | Quote
  /** Several trades or quotes in one frame, trades of a symbol in ascending id order. */
  | { readonly _tag: "Batch"; readonly items: ReadonlyArray<Trade | Quote> }
  /** Subscription acks, pongs, heartbeats, status: proof of life, no data. */
  | { readonly _tag: "Control" }
  /** The server announced it will close this connection (Binance `serverShutdown`): replace it now. */
  | { readonly _tag: "Shutdown"; readonly detail: string }
  | { readonly _tag: "ServerError"; readonly message: string }
  | { readonly _tag: "Ignored"; readonly reason: IgnoredReason }
  /** `detail` is worked out only when asked for: explaining a refusal costs more than refusing it. */
  | { readonly _tag: "Invalid"; readonly reason: InvalidReason; readonly detail: () => string }
  /** Decoding threw: a bug the frame exposed. The frame is set aside with the error; the connection carries on. */
  | { readonly _tag: "Defect"; readonly error: unknown }

export type IgnoredReason = "unsubscribed_symbol" | "unknown_stream" | "no_book"
/** `out_of_range`: a value beyond the limits of Limits.ts (time, id, length, a non-finite number). */
export type InvalidReason = "malformed_json" | "schema" | "unknown_frame" | "too_deep" | "out_of_range"

/** Turns one frame into trades, quotes or a classification; never throws. Stateful (Bybit merges ticker deltas). */
export type Decoder = (raw: string, recvTs: number) => Decoded

/** What a daemon uses for a venue when its `<EXCHANGE>_*` settings are not given. */
export interface VenueDefaults {
  readonly wsUrl: string
  readonly restUrl: string
  /** Half of the venue's published per-IP limit, leaving room for other clients behind the same address. */
  readonly restWeightPerMinute: number
  readonly symbols: ReadonlyArray<string>
}

/**
 * Everything the shared feed actor needs to know about one exchange's public WebSocket API. Pure: no I/O, so
 * every rule here is testable against recorded frames. `S` is the venue's own settings (Binance: which trade
 * stream); the methods take them bivariantly, so the registry holds every venue as a `Venue`.
 */
export interface Venue<S = unknown> {
  readonly exchange: ExchangeId
  readonly defaults: VenueDefaults
  /** The venue's name of a unified symbol, as subscribed; `aliases` are other names it may answer with. */
  readonly instrument: (unified: string) => string
  readonly aliases?: (unified: string) => ReadonlyArray<string>
  /** The WebSocket URL to open, from `<EXCHANGE>_WS_URL` (which may name only the host). */
  readonly endpoint: (base: string) => string
  /** The venue's own settings beyond the common `<EXCHANGE>_*` ones, read with the rest of the configuration. */
  readonly settings?: Config.Config<S>
  /** Symbols one connection may carry; more are split across connections. */
  readonly symbolsPerConnection: number
  /** The control messages that subscribe a connection to its symbols, in sending order. */
  subscribe(instruments: ReadonlyArray<string>, settings: S): ReadonlyArray<string>
  /** Pause between control messages, to stay inside the venue's per-connection message rate. */
  readonly controlIntervalMs: number
  /** An application-level ping text; undefined means WebSocket ping frames. */
  readonly ping?: string
  /**
   * Where trade ids are contiguous per symbol: how many ids a trade record spans (an OKX record aggregates
   * `count` fills under its last id). Undefined where ids are not ordered (Bybit's UUIDs): dedupe only.
   */
  readonly idSpan?: (trade: Trade) => number
  /** The venue closes every connection after this long (Binance: 24 h); the feed rotates before it. */
  readonly maxConnectionMs?: number
  readonly decoder: (symbols: SymbolMap) => Decoder
  /** The venue's REST trade history, for backfill and polling; undefined where there is none by id. */
  history?(settings: S): TradeHistory
  /**
   * Whether that history finds the first trade after any past time (Binance, Kraken), rather than only within its
   * newest page (Coinbase): what a fresh start's open candles, hours back, can be filled from.
   */
  readonly historyReachesBack?: boolean
  /** The venue's own 1m candles over REST, which ours are reconciled with; undefined where it publishes none. */
  readonly candles?: CandleHistory
}

/** A venue's REST 1m candles. Pure: the reconciler does the I/O. */
export interface CandleHistory {
  /** Minutes one request may ask for at most. */
  readonly maxMinutes: number
  /** The 1m candles opening from `fromTs` to `toTs`. */
  readonly request: (instrument: string, fromTs: number, toTs: number) => RestRequest
  /** The candles of an answer, or why it cannot be read. */
  readonly read: (body: unknown) => ReadonlyArray<VenueCandle> | string
}

/** One GET request to a venue's REST API. */
export interface RestRequest {
  readonly path: string
  readonly query: Record<string, string | number>
  /** What the request costs of the venue's rate limit. */
  readonly weight: number
}

/**
 * A venue's REST trade history by id: pages of trades after a given id, oldest first. Pure: the backfill actor
 * does the I/O.
 */
export interface TradeHistory {
  /** The page of trades after `afterId`, which traded at `afterTs` (venues that page by time ask from then). */
  readonly after: (instrument: string, afterId: number, afterTs: number) => RestRequest
  /**
   * Whether a page of `read` trades, `fresh` of them after the id asked from, shows the history has nothing newer
   * yet. Where a page is cut by count from the id on (Binance, Kraken) a short page does; where it is the newest
   * trades below a cursor (Coinbase), a page that is not all fresh does.
   */
  readonly exhausted: (read: number, fresh: number) => boolean
  /**
   * For a symbol of which no id is known yet: a request for what traded from `fromTs` on, and the id just before
   * the first trade at or after `fromTs` its answer shows; undefined when nothing traded since, and the reason
   * when the answer does not reach back to `fromTs`.
   */
  readonly since: {
    readonly request: (instrument: string, fromTs: number) => RestRequest
    readonly anchor: (body: unknown, fromTs: number) => number | undefined | string
  }
  /** The trades of a page (ascending id), or why the page cannot be read. */
  readonly read: (body: unknown, symbol: string, recvTs: number) => ReadonlyArray<Trade> | string
}

/**
 * The anchor of the first trade at or after `fromTs`, asked an hour at a time up to `untilTs` (at least once): a
 * venue may look for it within a window only (Binance: an hour), so a quiet first hour must not read as "nothing
 * traded".
 */
export const firstTradeAnchor = <E, R>(
  history: TradeHistory,
  instrument: string,
  fromTs: number,
  untilTs: number,
  get: (request: RestRequest) => Effect.Effect<unknown, E, R>,
): Effect.Effect<number | undefined | string, E, R> =>
  Effect.gen(function* () {
    let t = fromTs
    do {
      const found = history.since.anchor(yield* get(history.since.request(instrument, t)), t)
      if (found !== undefined) return found
      t += 3_600_000
    } while (t < untilTs)
    return undefined
  })

/**
 * `since.anchor` over a page of trades (ascending): the id before the first fill of the first trade at or after
 * `fromTs`. When that is the page's oldest trade, earlier ones may be missing unless the page `reachesBack` to
 * `fromTs` (it was asked from then, or holds the whole history).
 */
export const anchorAt = (
  trades: ReadonlyArray<Trade> | string,
  fromTs: number,
  reachesBack: boolean,
): number | undefined | string => {
  if (typeof trades === "string") return trades
  const i = trades.findIndex((t) => t.exchangeTs >= fromTs)
  if (i < 0) return undefined
  if (i === 0 && !reachesBack)
    return `the oldest trade it returns (${isoOrNumber(trades[0]!.exchangeTs)}) is later than ${isoOrNumber(fromTs)}`
  return trades[i]!.seq - trades[i]!.count
}

/**
 * A REST page's records as trades, in the order given: the page fails whole, with the reason, at the first record
 * that is not a valid trade (`toTrade` returns a string for a record of the wrong shape).
 */
export const pageTrades = (
  records: unknown,
  toTrade: (record: unknown) => Trade | Decoded | string,
): ReadonlyArray<Trade> | string => {
  if (!Array.isArray(records)) return `expected an array of trades, got ${preview(records)}`
  const out: Array<Trade> = []
  for (const r of records) {
    const t = toTrade(r)
    if (typeof t === "string") return t
    if (t._tag !== "Trade") return t._tag === "Invalid" ? t.detail() : t._tag
    out.push(t)
  }
  return out
}

export const invalid = (reason: InvalidReason, detail: () => string): Decoded => ({ _tag: "Invalid", reason, detail })

/** A value that failed its guard: `too_deep` when it nests past MAX_EXPLAIN_DEPTH, else the schema's own words. */
export const refuse = <A>(what: string, guard: Guard<A>, u: unknown): Decoded =>
  nestsDeeperThan(u, MAX_EXPLAIN_DEPTH)
    ? invalid("too_deep", () => `${what}: nested more than ${MAX_EXPLAIN_DEPTH} levels deep`)
    : invalid("schema", () => `${what}: ${guard.explain(u)}`)
export const CONTROL: Decoded = { _tag: "Control" }
export const UNSUBSCRIBED: Decoded = { _tag: "Ignored", reason: "unsubscribed_symbol" }
export const UNKNOWN_STREAM: Decoded = { _tag: "Ignored", reason: "unknown_stream" }

/** JSON.parse that reports instead of throwing. */
export const parseJson = (raw: string): { ok: true; value: unknown } | { ok: false; error: Decoded } => {
  try {
    return { ok: true, value: JSON.parse(raw) }
  } catch (e) {
    return {
      ok: false,
      error: invalid("malformed_json", () => `${(e as Error).message}; frame starts ${preview(raw, 80)}`),
    }
  }
}

export const isRecord = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null

const ISO = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?)\d*(Z|[+-]\d\d:?\d\d)$/

/** ISO-8601 time with up to nanoseconds (Coinbase, Kraken) → epoch milliseconds, truncated; NaN when unreadable. */
export const isoMillis = (text: string): number => {
  const m = ISO.exec(text)
  return m === null ? Number.NaN : Date.parse(m[1]! + m[2]!)
}

/** Single-trade frames stay single; several become a Batch (the common case allocates nothing extra). */
export const batchOf = (items: Array<Trade | Quote>): Decoded =>
  items.length === 1 ? items[0]! : { _tag: "Batch", items }

const scannedPrice: Decimal.Scanned = { units: 0, scale: 0 }
const scannedQty: Decimal.Scanned = { units: 0, scale: 0 }

export interface TradeFields {
  readonly exchange: ExchangeId
  readonly symbol: string
  readonly tradeId: string
  /** The id as a number where the venue's ids are ordered and contiguous; −1 elsewhere. */
  readonly seq: number
  readonly priceText: string
  readonly qtyText: string
  readonly side: Side
  readonly exchangeTs: number
  readonly count: number
  /** Where the venue says so (Binance's `m`). */
  readonly isBuyerMaker?: boolean | undefined
}

/** Reads a decimal text an exchange sent, refusing it unread past MAX_DECIMAL_CHARS. */
export const scanDecimal = (text: string, into: Decimal.Scanned): boolean =>
  text.length <= MAX_DECIMAL_CHARS && Decimal.scan(text, into)

export const notDecimal = (symbol: string, priceText: string, qtyText: string): Decoded =>
  invalid(
    "schema",
    () =>
      `${symbol}: price ${preview(priceText, 48)} or quantity ${preview(qtyText, 48)} is not a decimal of at most ${MAX_DECIMAL_CHARS} characters`,
  )

/** A unified Trade from exact decimal texts; Invalid when either is not a decimal or the time is unreadable. */
export const tradeOf = (f: TradeFields, recvTs: number): Trade | Decoded => {
  if (!scanDecimal(f.priceText, scannedPrice) || !scanDecimal(f.qtyText, scannedQty))
    return notDecimal(f.symbol, f.priceText, f.qtyText)
  if (!Number.isFinite(f.exchangeTs))
    return invalid("schema", () => `${f.symbol}: trade ${f.tradeId} has no readable time`)
  if (!(Number.isSafeInteger(f.count) && f.count >= 1))
    return invalid("schema", () => `${f.symbol}: trade ${f.tradeId} count ${f.count} is not a positive integer`)
  // Field by field rather than spreading `f`: every trade of every venue comes through here, and all get one shape.
  return {
    _tag: "Trade",
    exchange: f.exchange,
    symbol: f.symbol,
    tradeId: f.tradeId,
    seq: f.seq,
    price: Decimal.toNumber(scannedPrice),
    qty: Decimal.toNumber(scannedQty),
    priceText: f.priceText,
    qtyText: f.qtyText,
    side: f.side,
    exchangeTs: f.exchangeTs,
    recvTs,
    isBuyerMaker: f.isBuyerMaker,
    count: f.count,
    priceUnits: Decimal.unitsOrNaN(scannedPrice),
    priceScale: scannedPrice.scale,
    qtyUnits: Decimal.unitsOrNaN(scannedQty),
    qtyScale: scannedQty.scale,
  }
}

/** A Quote from book-top numbers; Ignored (`no_book`) when a side is missing, as on an empty book. */
export const quoteOf = (
  exchange: ExchangeId,
  symbol: string,
  bid: number,
  ask: number,
  bidQty: number,
  askQty: number,
  ts: number,
): Quote | Decoded =>
  bid > 0 && ask > 0 && Number.isFinite(ts)
    ? { _tag: "Quote", exchange, symbol, bid, ask, bidQty, askQty, ts }
    : { _tag: "Ignored", reason: "no_book" }

/** A numeric id as a sequence number where it is a safe integer, −1 where it is not (no gap detection then). */
export const seqOf = (id: string): number => {
  const n = Number(id)
  return Number.isSafeInteger(n) && n >= 0 && String(n) === id ? n : -1
}

export const isTrade = (d: Trade | Decoded): d is Trade => d._tag === "Trade"

/** Orders a frame's trades by symbol, then id: venues that list newest first (Coinbase) come out oldest first. */
export const byIdWithinSymbol = (a: Trade, b: Trade): number =>
  a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : a.seq - b.seq

/**
 * How one venue's trade or ticker records read: their check, their instrument, and what they become given the
 * unified symbol and the frame's time (its receive time, or the time its envelope carries).
 */
export interface RecordReader<A, R> {
  readonly guard: Guard<A>
  readonly instrument: (record: A) => string
  readonly read: (record: A, symbol: string, frameTs: number) => R
}

/**
 * The trades of a frame's records: the first malformed record refuses the frame, records of instruments nobody
 * subscribed to are skipped, and the rest come in id order per symbol.
 */
export const tradesOf = <A>(
  channel: string,
  records: ReadonlyArray<unknown>,
  symbols: SymbolMap,
  reader: RecordReader<A, TradeFields>,
  recvTs: number,
): Decoded => {
  const out: Array<Trade> = []
  for (const record of records) {
    if (!reader.guard.is(record)) return refuse(channel, reader.guard, record)
    const symbol = symbols.unified(reader.instrument(record))
    if (symbol === undefined) continue
    const t = tradeOf(reader.read(record, symbol, recvTs), recvTs)
    if (!isTrade(t)) return t
    out.push(t)
  }
  if (out.length === 0) return records.length === 0 ? CONTROL : UNSUBSCRIBED
  out.sort(byIdWithinSymbol)
  return batchOf(out)
}

/** The quotes of a frame's ticker records; when none results, why (unsubscribed, or an empty book side). */
export const quotesOf = <A>(
  channel: string,
  records: ReadonlyArray<unknown>,
  symbols: SymbolMap,
  reader: RecordReader<A, Quote | Decoded>,
  frameTs: number,
): Decoded => {
  const out: Array<Quote> = []
  let skipped: Decoded = UNSUBSCRIBED
  for (const record of records) {
    if (!reader.guard.is(record)) return refuse(channel, reader.guard, record)
    const symbol = symbols.unified(reader.instrument(record))
    if (symbol === undefined) continue
    const q = reader.read(record, symbol, frameTs)
    if (q._tag === "Quote") out.push(q)
    else skipped = q
  }
  return out.length === 0 ? skipped : batchOf(out)
}

/** Why a decoded trade breaks the limits a frame must keep (Limits.ts); undefined when it keeps them. */
const tradeLimits = (t: Trade, recvTs: number, futureToleranceMs: number): string | undefined => {
  const time = timeRefusal(t.exchangeTs, recvTs, futureToleranceMs)
  if (time !== undefined) return `${t.symbol} trade ${preview(t.tradeId, 48)}: ${time}`
  if (t.tradeId.length === 0 || t.tradeId.length > MAX_ID_CHARS)
    return `${t.symbol}: trade id ${preview(t.tradeId, 48)} is empty or longer than ${MAX_ID_CHARS} characters`
  if (!(Number.isSafeInteger(t.seq) && t.seq >= -1))
    return `${t.symbol}: trade id ${preview(t.tradeId, 48)} is not a whole number below 2^53`
  if (!(Number.isSafeInteger(t.count) && t.count >= 1))
    return `${t.symbol}: trade ${preview(t.tradeId, 48)} stands for ${t.count} trades`
  if (!Number.isFinite(t.price) || !Number.isFinite(t.qty))
    return `${t.symbol}: trade ${preview(t.tradeId, 48)} has a price or quantity beyond a double's range`
  return undefined
}

const quoteLimits = (q: Quote): string | undefined =>
  Number.isFinite(q.bid) && Number.isFinite(q.ask) && Number.isSafeInteger(q.ts)
    ? undefined
    : `${q.symbol}: book top ${q.bid} / ${q.ask} at ${q.ts} is not finite`

/** The good path of tradeLimits, as one expression of plain comparisons: `x - x === 0` is false for NaN and ±∞. */
const withinLimits = (t: Trade, latest: number): boolean =>
  Number.isSafeInteger(t.exchangeTs) &&
  t.exchangeTs >= EARLIEST_TRADE_TS &&
  t.exchangeTs <= latest &&
  t.tradeId.length > 0 &&
  t.tradeId.length <= MAX_ID_CHARS &&
  Number.isSafeInteger(t.seq) &&
  t.seq >= -1 &&
  Number.isSafeInteger(t.count) &&
  t.count >= 1 &&
  t.price - t.price === 0 &&
  t.qty - t.qty === 0

const itemLimits = (x: Trade | Quote, recvTs: number, futureToleranceMs: number): string | undefined =>
  x._tag === "Trade"
    ? withinLimits(x, recvTs + futureToleranceMs)
      ? undefined
      : tradeLimits(x, recvTs, futureToleranceMs)
    : quoteLimits(x)

/**
 * A venue's decoder held to the limits at the edge: whatever the venue module makes of a frame, a trade or quote
 * beyond the limits refuses the frame (`out_of_range`), and a decoder that throws yields a Defect instead of taking
 * the connection down. A dozen plain comparisons per trade on the good path.
 */
export const withLimits =
  (decode: Decoder, futureToleranceMs: number): Decoder =>
  (raw, recvTs) => {
    let d: Decoded
    try {
      d = decode(raw, recvTs)
    } catch (error) {
      return { _tag: "Defect", error }
    }
    switch (d._tag) {
      case "Trade":
      case "Quote": {
        const refusal = itemLimits(d, recvTs, futureToleranceMs)
        return refusal === undefined ? d : invalid("out_of_range", () => refusal)
      }
      case "Batch":
        for (const x of d.items) {
          const refusal = itemLimits(x, recvTs, futureToleranceMs)
          if (refusal !== undefined) return invalid("out_of_range", () => refusal)
        }
        return d
      default:
        return d
    }
  }
