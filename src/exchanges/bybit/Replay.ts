import { bybitInstrument } from "./Venue.js"
import { NO_REPLY, parseOr, type ReplayProtocol, shiftFields } from "../ReplayProtocol.js"

/** v5 public: `op` subscribe with topic names, `op` ping answered with a pong ack. */
export const BybitProtocol: ReplayProtocol = {
  exchange: "bybit",
  topicOf: (frame) => {
    const t = parseOr(frame)?.topic
    return typeof t === "string" ? t : undefined
  },
  encode: (event) => {
    if (event.kind === "quote") {
      const q = event.quote
      const s = bybitInstrument(q.symbol)
      const data = {
        symbol: s,
        lastPrice: q.bid,
        bid1Price: q.bid,
        bid1Size: q.bidQty,
        ask1Price: q.ask,
        ask1Size: q.askQty,
      }
      return [
        {
          topic: `tickers.${s}`,
          frame: JSON.stringify({ topic: `tickers.${s}`, type: "snapshot", data, cs: 0, ts: q.ts }),
        },
      ]
    }
    const t = event.trade
    const s = bybitInstrument(t.symbol)
    const item = {
      T: t.ts,
      s,
      S: t.takerBuy ? "Buy" : "Sell",
      v: t.qty,
      p: t.price,
      L: "PlusTick",
      i: String(t.id),
      BT: false,
    }
    return [
      {
        topic: `publicTrade.${s}`,
        frame: JSON.stringify({ topic: `publicTrade.${s}`, type: "snapshot", ts: t.ts, data: [item] }),
        trades: [t],
      },
    ]
  },
  onMessage: (text) => {
    const msg = parseOr(text)
    if (msg?.op === "ping")
      return {
        replies: [
          JSON.stringify({ success: true, ret_msg: "pong", conn_id: "replay", req_id: msg.req_id, op: "ping" }),
        ],
        topics: [],
      }
    if (msg?.op !== "subscribe" || !Array.isArray(msg.args)) return NO_REPLY
    return {
      replies: [JSON.stringify({ success: true, ret_msg: "", conn_id: "replay", req_id: msg.req_id, op: "subscribe" })],
      topics: msg.args.map(String),
    }
  },
  shift: (frame, delta) => shiftFields(frame, ["ts", "T"], delta),
}
