import { krakenInstrument, krakenRestPair } from "./Venue.js"
import {
  isoTime,
  type Ledger,
  NO_REPLY,
  parseOr,
  type ReplayProtocol,
  type ReplayRest,
  shiftIso,
  type SyntheticTrade,
} from "../ReplayProtocol.js"

/** v2 writes prices and sizes as JSON numbers: the decimal text goes into the frame unquoted. */
const tradeJson = (t: SyntheticTrade) =>
  `{"symbol":${JSON.stringify(krakenInstrument(t.symbol))},"side":"${t.takerBuy ? "buy" : "sell"}","price":${t.price},"qty":${t.qty},"ord_type":"market","trade_id":${t.id},"timestamp":"${isoTime(t.ts)}"}`

const tradeFrame = (type: string, trades: ReadonlyArray<SyntheticTrade>) =>
  `{"channel":"trade","type":"${type}","data":[${trades.map(tradeJson).join(",")}]}`

/** REST `/0/public/Trades` over what the tape played: rows from `since` (seconds) on, `count` of them. */
const KrakenRest: ReplayRest = {
  record: (frame) => {
    const msg = parseOr(frame)
    if (msg?.channel !== "trade" || msg.type !== "update" || !Array.isArray(msg.data)) return []
    return (msg.data as Array<Record<string, string | number>>).map((t) => ({
      history: `trades:${krakenRestPair(String(t.symbol))}`,
      record: {
        row: [
          String(t.price),
          String(t.qty),
          Date.parse(String(t.timestamp)) / 1_000,
          t.side === "buy" ? "b" : "s",
          String(t.ord_type ?? "limit").slice(0, 1),
          "",
          t.trade_id,
        ],
      },
    }))
  },
  answer: (path, query, ledger: Ledger) => {
    if (path !== "/0/public/Trades") return { status: 404, body: { error: ["EGeneral:Unknown method"] }, weight: 1 }
    const pair = query.get("pair") ?? ""
    const rows = ledger.records.get(`trades:${pair}`)
    if (rows === undefined) return { status: 200, body: { error: ["EQuery:Unknown asset pair"] }, weight: 1 }
    const since = Number(query.get("since") ?? 0)
    const count = Math.min(Number(query.get("count") ?? 1_000), 1_000)
    const page = rows
      .slice()
      .map((r) => r.row as ReadonlyArray<string | number>)
      .filter((row) => (row[2] as number) >= since)
      .slice(0, count)
    const last = page.length === 0 ? since : (page.at(-1)![2] as number)
    return {
      status: 200,
      body: { error: [], result: { [pair]: page, last: String(Math.round(last * 1e9)) } },
      weight: 1,
    }
  },
}

/** WebSocket v2: `subscribe` per channel with a symbol list, acks per symbol, `ping`/`pong`, trade snapshots. */
export const KrakenProtocol: ReplayProtocol = {
  exchange: "kraken",
  topicOf: (frame) => {
    const msg = parseOr(frame)
    const first = Array.isArray(msg?.data) ? (msg.data[0] as { symbol?: string } | undefined) : undefined
    return typeof msg?.channel === "string" && first?.symbol !== undefined
      ? `${msg.channel}:${first.symbol}`
      : undefined
  },
  encode: (event) => {
    if (event.kind === "quote") {
      const q = event.quote
      const symbol = krakenInstrument(q.symbol)
      const frame = `{"channel":"ticker","type":"update","data":[{"symbol":${JSON.stringify(symbol)},"bid":${q.bid},"bid_qty":${q.bidQty},"ask":${q.ask},"ask_qty":${q.askQty},"last":${q.bid},"timestamp":"${isoTime(q.ts)}"}]}`
      return [{ topic: `ticker:${symbol}`, frame }]
    }
    const t = event.trade
    return [{ topic: `trade:${krakenInstrument(t.symbol)}`, frame: tradeFrame("update", [t]), trades: [t] }]
  },
  onMessage: (text) => {
    const msg = parseOr(text)
    const now = new Date().toISOString()
    if (msg?.method === "ping")
      return {
        replies: [JSON.stringify({ method: "pong", req_id: msg.req_id, time_in: now, time_out: now })],
        topics: [],
      }
    if (msg?.method !== "subscribe") return NO_REPLY
    const params = msg.params as { channel?: string; symbol?: Array<string> } | undefined
    const channel = params?.channel ?? ""
    const symbols = params?.symbol ?? []
    return {
      replies: symbols.map((symbol) =>
        JSON.stringify({
          method: "subscribe",
          result: { channel, symbol, snapshot: true },
          success: true,
          time_in: now,
          time_out: now,
          req_id: msg.req_id,
        }),
      ),
      topics: symbols.map((s) => `${channel}:${s}`),
    }
  },
  snapshot: (topic, recent) => (topic.startsWith("trade:") ? tradeFrame("snapshot", recent) : undefined),
  heartbeat: () => '{"channel":"heartbeat"}',
  shift: shiftIso,
  rest: KrakenRest,
}
