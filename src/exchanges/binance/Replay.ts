import * as Decimal from "../../domain/Decimal.js"
import { binanceInstrument } from "./Venue.js"
import {
  type Ledger,
  type LedgerEntry,
  NO_REPLY,
  parseOr,
  type ReplayProtocol,
  type ReplayRest,
  type RestAnswer,
  shiftFields,
} from "../ReplayProtocol.js"

const stream = (symbol: string, kind: string) => `${binanceInstrument(symbol).toLowerCase()}@${kind}`

/** A symbol's instrument and stream names, worked out once: load tests encode tens of thousands of events a second. */
const namesOf = (() => {
  const known = new Map<string, { s: string; trade: string; aggTrade: string; bookTicker: string }>()
  return (symbol: string) => {
    let names = known.get(symbol)
    if (names === undefined) {
      names = {
        s: binanceInstrument(symbol),
        trade: stream(symbol, "trade"),
        aggTrade: stream(symbol, "aggTrade"),
        bookTicker: stream(symbol, "bookTicker"),
      }
      known.set(symbol, names)
    }
    return names
  }
})()

/** Ids from `fromId` on (or the newest without one), `limit` of them: Binance's paging for both histories. */
const page = (list: ReadonlyArray<Record<string, unknown>>, id: string, query: URLSearchParams) => {
  const limit = Math.min(Number(query.get("limit") ?? 500), 1_000)
  const from = query.get("fromId")
  if (from === null) return list.slice(-limit)
  const start = list.findIndex((r) => (r[id] as number) >= Number(from))
  return start < 0 ? [] : list.slice(start, start + limit)
}

/** The index of the first record at or after `ts` in a history kept in trade-time order, found by bisection. */
const firstAtOrAfter = (list: ReadonlyArray<Record<string, unknown>>, timeField: string, ts: number): number => {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((list[mid]![timeField] as number) < ts) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** One trade as a kline counts it: an aggregate trade stands for `l − f + 1` trades. */
interface KlineTrade {
  readonly time: number
  readonly price: string
  readonly qty: string
  readonly buyerMaker: boolean
  readonly count: number
}

const fromHistorical = (r: Record<string, unknown>): KlineTrade => ({
  time: r.time as number,
  price: r.price as string,
  qty: r.qty as string,
  buyerMaker: r.isBuyerMaker as boolean,
  count: 1,
})

const fromAggregate = (r: Record<string, unknown>): KlineTrade => ({
  time: r.T as number,
  price: r.p as string,
  qty: r.q as string,
  buyerMaker: r.m as boolean,
  count: (r.l as number) - (r.f as number) + 1,
})

/**
 * The exchange's 1m klines over the trades the tape played, as `/api/v3/klines` rows: what a real exchange serves
 * for any minute it traded in, computed independently of the daemon's candle builder, with exact decimals.
 */
export const klinesOfTrades = (trades: ReadonlyArray<KlineTrade>): Array<ReadonlyArray<string | number>> => {
  const rows: Array<ReadonlyArray<string | number>> = []
  let minute = Number.NaN
  let open = ""
  let close = ""
  let high: Decimal.Decimal = { units: 0n, scale: 0 }
  let low = high
  let count = 0
  let volume = new Decimal.DecimalSum()
  let quote = new Decimal.DecimalSum()
  let takerBase = new Decimal.DecimalSum()
  let takerQuote = new Decimal.DecimalSum()
  const flush = () => {
    if (count === 0) return
    rows.push([
      minute,
      open,
      Decimal.format(high),
      Decimal.format(low),
      close,
      volume.format(),
      minute + 59_999,
      quote.format(),
      count,
      takerBase.format(),
      takerQuote.format(),
      "0",
    ])
  }
  for (const t of trades) {
    const price = Decimal.parse(t.price)
    const qty = Decimal.parse(t.qty)
    if (price === undefined || qty === undefined) continue
    const m = t.time - (t.time % 60_000)
    if (m !== minute) {
      flush()
      minute = m
      open = t.price
      high = price
      low = price
      count = 0
      volume = new Decimal.DecimalSum()
      quote = new Decimal.DecimalSum()
      takerBase = new Decimal.DecimalSum()
      takerQuote = new Decimal.DecimalSum()
    }
    if (Decimal.compare(price, high) > 0) high = price
    if (Decimal.compare(price, low) < 0) low = price
    close = t.price
    count += t.count
    const notional = price.units * qty.units
    volume.add(qty.units, qty.scale)
    quote.add(notional, price.scale + qty.scale)
    if (!t.buyerMaker) {
      takerBase.add(qty.units, qty.scale)
      takerQuote.add(notional, price.scale + qty.scale)
    }
  }
  flush()
  return rows
}

/** A test's klines for the symbol where it loaded them (the exchange's recorded candles), else the tape's. */
const klinesOf = (ledger: Ledger, symbol: string, start: number, end: number) => {
  const loaded = ledger.klines.get(symbol)
  if (loaded !== undefined) return loaded.filter((k) => Number(k[0]) >= start && Number(k[0]) <= end)
  const historical = ledger.records.get(`historicalTrades:${symbol}`) ?? []
  const [list, timeField, read] =
    historical.length > 0
      ? [historical, "time", fromHistorical]
      : [ledger.records.get(`aggTrades:${symbol}`) ?? [], "T", fromAggregate]
  const from = firstAtOrAfter(list, timeField, start - (start % 60_000))
  const to = firstAtOrAfter(list, timeField, end - (end % 60_000) + 60_000)
  return klinesOfTrades(list.slice(from, to).map(read)).filter((k) => Number(k[0]) >= start && Number(k[0]) <= end)
}

const badRequest = (msg: string): RestAnswer => ({ status: 400, body: { code: -1100, msg }, weight: 1 })

/** The REST history's record of an `aggTrade` event. */
const aggTradeEntry = (data: Record<string, unknown>): LedgerEntry => {
  const { a, p, q, f, l, T, m, M } = data
  return { history: `aggTrades:${String(data.s)}`, record: { a, p, q, f, l, T, m, M } }
}

/** The REST history's record of a `trade` event. */
const tradeEntry = (data: Record<string, unknown>): LedgerEntry => {
  const { t, p, q, T, m, M } = data
  const quoteQty = String(Number(p) * Number(q))
  return {
    history: `historicalTrades:${String(data.s)}`,
    record: { id: t, price: p, qty: q, quoteQty, time: T, isBuyerMaker: m, isBestMatch: M },
  }
}

/** `/api/v3/aggTrades`, `/api/v3/historicalTrades` and `/api/v3/klines` over what the tape played. */
const BinanceRest: ReplayRest = {
  record: (frame) => {
    const data = parseOr(frame)?.data as Record<string, unknown> | undefined
    if (data?.e === "aggTrade") return [aggTradeEntry(data)]
    if (data?.e === "trade") return [tradeEntry(data)]
    return []
  },
  answer: (path, query, ledger: Ledger) => {
    const symbol = query.get("symbol")
    if (symbol === null) return badRequest("Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
    switch (path) {
      case "/api/v3/aggTrades": {
        const all = ledger.records.get(`aggTrades:${symbol}`) ?? []
        const start = query.get("startTime")
        if (start === null) return { status: 200, body: page(all, "a", query), weight: 2 }
        const end = Number(query.get("endTime") ?? Number(start) + 3_600_000)
        const limit = Math.min(Number(query.get("limit") ?? 500), 1_000)
        // Bisection: a load test's history is millions long.
        const lo = firstAtOrAfter(all, "T", Number(start))
        const inWindow: Array<Record<string, unknown>> = []
        for (let i = lo; i < all.length && inWindow.length < limit && (all[i]!.T as number) <= end; i++)
          inWindow.push(all[i]!)
        return { status: 200, body: inWindow, weight: 2 }
      }
      case "/api/v3/historicalTrades":
        return {
          status: 200,
          body: page(ledger.records.get(`historicalTrades:${symbol}`) ?? [], "id", query),
          weight: 25,
        }
      case "/api/v3/klines": {
        if (query.get("interval") !== "1m") return badRequest("Invalid interval.")
        const start = Number(query.get("startTime") ?? 0)
        const end = Number(query.get("endTime") ?? Number.MAX_SAFE_INTEGER)
        const limit = Math.min(Number(query.get("limit") ?? 500), 1_000)
        return { status: 200, body: klinesOf(ledger, symbol, start, end).slice(0, limit), weight: 2 }
      }
      default:
        return { status: 404, body: { code: -1, msg: `no such endpoint ${path}` }, weight: 1 }
    }
  },
}

/** Combined streams: `SUBSCRIBE` with stream names, frames wrapped as `{"stream":…,"data":…}`. */
export const BinanceProtocol: ReplayProtocol = {
  exchange: "binance",
  topicOf: (frame) => {
    const s = parseOr(frame)?.stream
    return typeof s === "string" ? s : undefined
  },
  encode: (event) => {
    if (event.kind === "quote") {
      const q = event.quote
      const { s, bookTicker } = namesOf(q.symbol)
      const data = { u: q.ts, s, b: q.bid, B: q.bidQty, a: q.ask, A: q.askQty }
      return [{ topic: bookTicker, frame: JSON.stringify({ stream: bookTicker, data }), ledger: [] }]
    }
    const t = event.trade
    const { s, trade: tradeTopic, aggTrade: aggTopic } = namesOf(t.symbol)
    const common = { p: t.price, q: t.qty }
    const trade = { e: "trade", E: t.ts, s, t: t.id, ...common, T: t.ts, m: !t.takerBuy, M: true }
    const agg = { e: "aggTrade", E: t.ts, s, a: t.id, ...common, f: t.id, l: t.id, T: t.ts, m: !t.takerBuy, M: true }
    const trades = [t]
    return [
      {
        topic: tradeTopic,
        frame: JSON.stringify({ stream: tradeTopic, data: trade }),
        trades,
        ledger: [tradeEntry(trade)],
      },
      { topic: aggTopic, frame: JSON.stringify({ stream: aggTopic, data: agg }), trades, ledger: [aggTradeEntry(agg)] },
    ]
  },
  onMessage: (text) => {
    const msg = parseOr(text)
    if (msg === undefined) return { replies: [JSON.stringify({ error: { code: 3, msg: "Invalid JSON" } })], topics: [] }
    if (msg.method === "SUBSCRIBE" && Array.isArray(msg.params))
      return { replies: [JSON.stringify({ result: null, id: msg.id })], topics: msg.params.map(String) }
    if (msg.method === "UNSUBSCRIBE") return { replies: [JSON.stringify({ result: null, id: msg.id })], topics: [] }
    return msg.id === undefined
      ? NO_REPLY
      : { replies: [JSON.stringify({ error: { code: 2, msg: "Invalid request" }, id: msg.id })], topics: [] }
  },
  shutdownNotice: (now) => JSON.stringify({ e: "serverShutdown", E: now }),
  shift: (frame, delta) => shiftFields(frame, ["E", "T"], delta),
  rest: BinanceRest,
}
