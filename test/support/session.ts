import { BinanceProtocol } from "../../src/exchanges/binance/Replay.js"
import type { Sent } from "./candles.js"
import { fixtureLines, fixtureMeta, type RecordedAggTrade } from "./fixtures.js"

const SESSION = "cf-bin-20210405"
const QUOTES = ["USDT", "BUSD", "BTC", "ETH", "BNB", "AUD", "BRL", "TRY"]
export const unified = (venue: string) => {
  const quote = QUOTES.find((q) => venue.endsWith(q))!
  return `${venue.slice(0, -quote.length)}/${quote}`
}

/** One recorded session, aggTrades and book tickers interleaved by their receive time, as the exchange sent them. */
export const recordedSession = () => {
  const read = (file: string) => {
    const meta = fixtureMeta(file)
    return fixtureLines(file)
      .map((raw, i) => ({ raw, ...meta[i]! }))
      .filter((f) => f.source === SESSION)
  }
  const frames = [...read("binance/aggTrade.jsonl"), ...read("binance/bookTicker.jsonl")].sort(
    (a, b) => a.recvTs - b.recvTs,
  )
  const recorded = read("binance/aggTrade.jsonl").map((f) => (JSON.parse(f.raw) as { data: RecordedAggTrade }).data)
  const trades = new Map<
    string,
    Array<{ id: number; ts: number; price: string; qty: string; takerBuy: boolean; count: number }>
  >()
  for (const t of recorded) {
    const list = trades.get(unified(t.s)) ?? []
    list.push({ id: t.a, ts: t.T, price: t.p, qty: t.q, takerBuy: !t.m, count: t.l - t.f + 1 })
    trades.set(unified(t.s), list)
  }
  const sent: Sent = { exchange: "binance", trades }
  const first = frames[0]!.recvTs
  const tape = frames.map((f) => ({ at: f.recvTs - first, topic: BinanceProtocol.topicOf(f.raw)!, frame: f.raw }))
  return { tape, sent }
}
