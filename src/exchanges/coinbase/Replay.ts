import { coinbaseInstrument } from "./Venue.js"
import {
  isoTime,
  type Ledger,
  parseOr,
  type ReplayProtocol,
  type ReplayRest,
  shiftIso,
  type SyntheticTrade,
} from "../ReplayProtocol.js"

const envelope = (channel: string, now: number, events: ReadonlyArray<unknown>) =>
  JSON.stringify({ channel, client_id: "", timestamp: isoTime(now), sequence_num: 0, events })

/** Maker side, as the venue reports it: the opposite of the taker's. */
const tradeItem = (t: SyntheticTrade) => ({
  trade_id: String(t.id),
  product_id: coinbaseInstrument(t.symbol),
  price: t.price,
  size: t.qty,
  side: t.takerBuy ? "SELL" : "BUY",
  time: isoTime(t.ts),
})

const TRADES_PATH = /^\/products\/([^/]+)\/trades$/

/** Exchange REST `/products/{id}/trades` over what the tape played: newest first, `after` a cursor below an id. */
const CoinbaseRest: ReplayRest = {
  record: (frame) => {
    const msg = parseOr(frame)
    if (msg?.channel !== "market_trades" || !Array.isArray(msg.events)) return []
    return (msg.events as Array<{ type?: string; trades?: Array<Record<string, string>> }>)
      .filter((e) => e.type === "update" && Array.isArray(e.trades))
      .flatMap((e) => e.trades!)
      .map((t) => ({
        history: `trades:${t.product_id}`,
        record: {
          trade_id: Number(t.trade_id),
          price: t.price,
          size: t.size,
          side: t.side?.toLowerCase(),
          time: t.time,
        },
      }))
  },
  answer: (path, query, ledger: Ledger) => {
    const product = TRADES_PATH.exec(path)?.[1]
    if (product === undefined) return { status: 404, body: { message: "NotFound" }, weight: 1 }
    const limit = Math.min(Number(query.get("limit") ?? 1_000), 1_000)
    const after = query.get("after")
    const all = ledger.records.get(`trades:${product}`)?.slice() ?? []
    const below = after === null ? all : all.filter((r) => (r.trade_id as number) < Number(after))
    return { status: 200, body: below.slice(-limit).reverse(), weight: 1 }
  },
}

/** Advanced Trade: one subscribe per channel, `market_trades` snapshot (newest first) on subscribe, heartbeats. */
export const CoinbaseProtocol: ReplayProtocol = {
  exchange: "coinbase",
  topicOf: (frame) => {
    const msg = parseOr(frame)
    const events = msg?.events
    if (!Array.isArray(events) || typeof msg?.channel !== "string") return undefined
    const first = events[0] as { trades?: Array<{ product_id?: string }>; tickers?: Array<{ product_id?: string }> }
    const product = first?.trades?.[0]?.product_id ?? first?.tickers?.[0]?.product_id
    return product === undefined ? undefined : `${msg.channel}:${product}`
  },
  encode: (event) => {
    if (event.kind === "quote") {
      const q = event.quote
      const product = coinbaseInstrument(q.symbol)
      const ticker = {
        type: "ticker",
        product_id: product,
        price: q.bid,
        best_bid: q.bid,
        best_bid_quantity: q.bidQty,
        best_ask: q.ask,
        best_ask_quantity: q.askQty,
      }
      return [{ topic: `ticker:${product}`, frame: envelope("ticker", q.ts, [{ type: "update", tickers: [ticker] }]) }]
    }
    const t = event.trade
    const product = coinbaseInstrument(t.symbol)
    return [
      {
        topic: `market_trades:${product}`,
        frame: envelope("market_trades", t.ts, [{ type: "update", trades: [tradeItem(t)] }]),
        trades: [t],
      },
    ]
  },
  onMessage: (text) => {
    const msg = parseOr(text)
    if (msg?.type !== "subscribe" || typeof msg.channel !== "string" || !Array.isArray(msg.product_ids))
      return { replies: [JSON.stringify({ type: "error", message: "Failure to subscribe" })], topics: [] }
    const products = msg.product_ids.map(String)
    return {
      replies: [envelope("subscriptions", Date.now(), [{ subscriptions: { [msg.channel]: products } }])],
      topics: msg.channel === "heartbeats" ? ["heartbeats"] : products.map((p) => `${msg.channel}:${p}`),
    }
  },
  snapshot: (topic, recent) =>
    topic.startsWith("market_trades:")
      ? envelope("market_trades", Date.now(), [{ type: "snapshot", trades: [...recent].reverse().map(tradeItem) }])
      : undefined,
  heartbeat: (counter, now) =>
    envelope("heartbeats", now, [{ current_time: new Date(now).toISOString(), heartbeat_counter: String(counter) }]),
  shift: shiftIso,
  rest: CoinbaseRest,
}
