import * as Decimal from "../../domain/Decimal.js"
import { binanceInstrument } from "./Venue.js"
import { AggTradeHistory } from "./AggTradeHistory.js"
import {
  type History,
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

interface Names {
  readonly s: string
  readonly trade: string
  readonly aggTrade: string
  readonly bookTicker: string
  /** The ledger's histories of the symbol. */
  readonly historicalTrades: string
  readonly aggTrades: string
  /** `"stream":…,"data":{` up to the first field, for each stream: the frames' fixed text. */
  readonly tradeHead: string
  readonly aggTradeHead: string
  readonly bookTickerHead: string
  /** `"s":"BTCUSDT"` as JSON. */
  readonly sField: string
}

/** The ledger's two histories of an instrument, as `/api/v3/aggTrades` and `/api/v3/historicalTrades` serve them. */
const aggTradesOf = (instrument: string) => `aggTrades:${instrument}`
const historicalTradesOf = (instrument: string) => `historicalTrades:${instrument}`

const head = (topic: string) => `{"stream":${JSON.stringify(topic)},"data":{`

/**
 * A symbol's instrument, stream and history names and the fixed text of its frames, worked out once: load tests
 * encode tens of thousands of events a second, and the same strings also keep the ledger's lookups from hashing a
 * new key each time.
 */
const namesOf = (() => {
  const known = new Map<string, Names>()
  return (symbol: string): Names => {
    let names = known.get(symbol)
    if (names === undefined) {
      const s = binanceInstrument(symbol)
      const trade = stream(symbol, "trade")
      const aggTrade = stream(symbol, "aggTrade")
      const bookTicker = stream(symbol, "bookTicker")
      names = {
        s,
        trade,
        aggTrade,
        bookTicker,
        historicalTrades: historicalTradesOf(s),
        aggTrades: aggTradesOf(s),
        tradeHead: head(trade),
        aggTradeHead: head(aggTrade),
        bookTickerHead: head(bookTicker),
        sField: `"s":${JSON.stringify(s)}`,
      }
      known.set(symbol, names)
    }
    return names
  }
})()

/**
 * The index of the first record whose `field` is at least `value` in a history kept in that field's order (trade
 * ids and times both grow as played), found by bisection: a load test's history is millions long.
 */
const firstAtOrAfter = (list: History, field: "a" | "T", value: number): number => {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if ((list.at(mid)![field] as number) < value) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Ids from `fromId` on (or the newest without one), `limit` of them: Binance's paging for both histories. */
const page = (list: History, query: URLSearchParams) => {
  const limit = Math.min(Number(query.get("limit") ?? 500), 1_000)
  const from = query.get("fromId")
  if (from === null) return list.slice(Math.max(0, list.length - limit))
  const start = firstAtOrAfter(list, "a", Number(from))
  return list.slice(start, start + limit)
}

/** One trade as a kline counts it: an aggregate trade stands for `l − f + 1` trades. */
interface KlineTrade {
  readonly time: number
  readonly price: string
  readonly qty: string
  readonly buyerMaker: boolean
  readonly count: number
}

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
  const historical = ledger.records.get(historicalTradesOf(symbol)) ?? []
  const list = historical.length > 0 ? historical : (ledger.records.get(aggTradesOf(symbol)) ?? [])
  const from = firstAtOrAfter(list, "T", start - (start % 60_000))
  const to = firstAtOrAfter(list, "T", end - (end % 60_000) + 60_000)
  return klinesOfTrades(list.slice(from, to).map(fromAggregate)).filter(
    (k) => Number(k[0]) >= start && Number(k[0]) <= end,
  )
}

const badRequest = (msg: string): RestAnswer => ({ status: 400, body: { code: -1100, msg }, weight: 1 })

/**
 * The REST history's record of an `aggTrade` event. Both histories keep this one shape, a raw trade as an aggregate
 * of one (`f` = `l` = its id), so that a played trade is one record in both: a load test plays millions.
 */
const aggTradeEntry = (data: Record<string, unknown>): LedgerEntry => {
  const { a, p, q, f, l, T, m, M } = data
  return { history: aggTradesOf(String(data.s)), record: { a, p, q, f, l, T, m, M } }
}

/** The REST history's record of a `trade` event, in the aggregate shape (see `aggTradeEntry`). */
const tradeEntry = (data: Record<string, unknown>): LedgerEntry => {
  const { t, p, q, T, m, M } = data
  return { history: historicalTradesOf(String(data.s)), record: { a: t, p, q, f: t, l: t, T, m, M } }
}

/** A `/api/v3/historicalTrades` record as Binance writes it; worked out per answer, not per trade played. */
const historicalRecord = (r: Record<string, unknown>) => ({
  id: r.a,
  price: r.p,
  qty: r.q,
  quoteQty: String(Number(r.p) * Number(r.q)),
  time: r.T,
  isBuyerMaker: r.m,
  isBestMatch: r.M,
})

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
        const all = ledger.records.get(aggTradesOf(symbol)) ?? []
        const start = query.get("startTime")
        if (start === null) return { status: 200, body: page(all, query), weight: 2 }
        const end = Number(query.get("endTime") ?? Number(start) + 3_600_000)
        const limit = Math.min(Number(query.get("limit") ?? 500), 1_000)
        const inWindow: Array<Record<string, unknown>> = []
        for (let i = firstAtOrAfter(all, "T", Number(start)); i < all.length && inWindow.length < limit; i++) {
          const record = all.at(i)!
          if ((record.T as number) > end) break
          inWindow.push(record)
        }
        return { status: 200, body: inWindow, weight: 2 }
      }
      case "/api/v3/historicalTrades":
        return {
          status: 200,
          body: page(ledger.records.get(historicalTradesOf(symbol)) ?? [], query).map(historicalRecord),
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
  history: () => new AggTradeHistory(),
}

/** Combined streams: `SUBSCRIBE` with stream names, frames wrapped as `{"stream":…,"data":…}`. */
export const BinanceProtocol: ReplayProtocol = {
  exchange: "binance",
  topicOf: (frame) => {
    const s = parseOr(frame)?.stream
    return typeof s === "string" ? s : undefined
  },
  // The frames are written as text, field by field in Binance's order, rather than built as objects and
  // stringified: a load test encodes three frames per trade, tens of thousands a second, on the machine whose
  // daemon it measures. test/replay/BinanceReplay.test.ts holds them equal to JSON.stringify of the objects.
  encode: (event) => {
    if (event.kind === "quote") {
      const q = event.quote
      const n = namesOf(q.symbol)
      const frame = `${n.bookTickerHead}"u":${q.ts},${n.sField},"b":${JSON.stringify(q.bid)},"B":${JSON.stringify(q.bidQty)},"a":${JSON.stringify(q.ask)},"A":${JSON.stringify(q.askQty)}}}`
      return [{ topic: n.bookTicker, frame, ledger: [] }]
    }
    const t = event.trade
    const n = namesOf(t.symbol)
    const p = JSON.stringify(t.price)
    const q = JSON.stringify(t.qty)
    const m = !t.takerBuy
    const trades = [t]
    const record = { a: t.id, p: t.price, q: t.qty, f: t.id, l: t.id, T: t.ts, m, M: true }
    const tradeFrame = `${n.tradeHead}"e":"trade","E":${t.ts},${n.sField},"t":${t.id},"p":${p},"q":${q},"T":${t.ts},"m":${m},"M":true}}`
    // Written only when a client reads aggTrades: most runs subscribe to one of the two trade streams.
    let aggFrame: string | undefined
    return [
      {
        topic: n.trade,
        frame: tradeFrame,
        trades,
        ledger: [{ history: n.historicalTrades, record }],
      },
      {
        topic: n.aggTrade,
        get frame() {
          return (aggFrame ??= `${n.aggTradeHead}"e":"aggTrade","E":${t.ts},${n.sField},"a":${t.id},"p":${p},"q":${q},"f":${t.id},"l":${t.id},"T":${t.ts},"m":${m},"M":true}}`)
        },
        trades,
        ledger: [{ history: n.aggTrades, record }],
      },
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
