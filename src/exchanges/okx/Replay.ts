import { okxInstrument } from "./Venue.js"
import { NO_REPLY, parseOr, type ReplayProtocol, shiftFields } from "../ReplayProtocol.js"

/** v5 public: `op` subscribe with `{channel, instId}` args, one ack per arg; text `ping` answered `pong`. */
export const OkxProtocol: ReplayProtocol = {
  exchange: "okx",
  topicOf: (frame) => {
    const arg = parseOr(frame)?.arg as { channel?: string; instId?: string } | undefined
    return arg?.channel !== undefined && arg.instId !== undefined && frame.includes('"data"')
      ? `${arg.channel}:${arg.instId}`
      : undefined
  },
  encode: (event) => {
    if (event.kind === "quote") {
      const q = event.quote
      const instId = okxInstrument(q.symbol)
      const data = [
        {
          instType: "SPOT",
          instId,
          last: q.bid,
          askPx: q.ask,
          askSz: q.askQty,
          bidPx: q.bid,
          bidSz: q.bidQty,
          ts: String(q.ts),
        },
      ]
      return [{ topic: `tickers:${instId}`, frame: JSON.stringify({ arg: { channel: "tickers", instId }, data }) }]
    }
    const t = event.trade
    const instId = okxInstrument(t.symbol)
    const data = [
      {
        instId,
        tradeId: String(t.id),
        px: t.price,
        sz: t.qty,
        side: t.takerBuy ? "buy" : "sell",
        ts: String(t.ts),
        count: "1",
      },
    ]
    return [
      { topic: `trades:${instId}`, frame: JSON.stringify({ arg: { channel: "trades", instId }, data }), trades: [t] },
    ]
  },
  onMessage: (text) => {
    if (text === "ping") return { replies: ["pong"], topics: [] }
    const msg = parseOr(text)
    if (msg?.op !== "subscribe" || !Array.isArray(msg.args)) return NO_REPLY
    const args = msg.args as Array<{ channel: string; instId: string }>
    return {
      replies: args.map((arg) => JSON.stringify({ event: "subscribe", arg, connId: "replay" })),
      topics: args.map((a) => `${a.channel}:${a.instId}`),
    }
  },
  shutdownNotice: () =>
    JSON.stringify({
      event: "notice",
      code: "64008",
      msg: "The connection will soon be closed for a service upgrade. Please reconnect.",
      connId: "replay",
    }),
  shift: (frame, delta) => shiftFields(frame, ["ts"], delta),
}
