import { binanceInstrument } from "../../domain/venues/Binance.js"
import { NO_REPLY, parseOr, type ReplayProtocol, shiftFields } from "../Protocol.js"

const stream = (symbol: string, kind: string) => `${binanceInstrument(symbol).toLowerCase()}@${kind}`

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
      const s = binanceInstrument(q.symbol)
      const data = { u: q.ts, s, b: q.bid, B: q.bidQty, a: q.ask, A: q.askQty }
      return [
        {
          topic: stream(q.symbol, "bookTicker"),
          frame: JSON.stringify({ stream: stream(q.symbol, "bookTicker"), data }),
        },
      ]
    }
    const t = event.trade
    const s = binanceInstrument(t.symbol)
    const common = { p: t.price, q: t.qty }
    const trade = { e: "trade", E: t.ts, s, t: t.id, ...common, T: t.ts, m: !t.takerBuy, M: true }
    const agg = { e: "aggTrade", E: t.ts, s, a: t.id, ...common, f: t.id, l: t.id, T: t.ts, m: !t.takerBuy, M: true }
    return [
      {
        topic: stream(t.symbol, "trade"),
        frame: JSON.stringify({ stream: stream(t.symbol, "trade"), data: trade }),
        trades: [t],
      },
      {
        topic: stream(t.symbol, "aggTrade"),
        frame: JSON.stringify({ stream: stream(t.symbol, "aggTrade"), data: agg }),
        trades: [t],
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
}
