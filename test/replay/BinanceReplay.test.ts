import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { BinanceProtocol } from "../../src/exchanges/binance/Replay.js"
import { enter, type Ledger, type SyntheticQuote, type SyntheticTrade } from "../../src/exchanges/ReplayProtocol.js"

const rest = BinanceProtocol.rest!

/** Any text a field may hold, quotes, backslashes and control characters included: the frames must stay JSON. */
const text = fc.oneof(fc.string(), fc.constantFrom("101.50", "0.00012", 'a"b', "c\\d", "e\nf", "\u0001"))
const symbol = fc.constantFrom("BTC/USDT", "ETH/USDT", "1000PEPE/USDT")
const trade: fc.Arbitrary<SyntheticTrade> = fc.record({
  symbol,
  id: fc.integer({ min: 0, max: 2 ** 48 }),
  ts: fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }),
  price: text,
  qty: text,
  takerBuy: fc.boolean(),
})
const quote: fc.Arbitrary<SyntheticQuote> = fc.record({
  symbol,
  ts: fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) }),
  bid: text,
  ask: text,
  bidQty: text,
  askQty: text,
})

const venueName = (s: string) => s.replace("/", "")
const streamOf = (s: string, kind: string) => `${venueName(s).toLowerCase()}@${kind}`

describe("the replay exchange's Binance frames", () => {
  it("are, byte for byte, JSON.stringify of the events Binance sends, field order included", () => {
    fc.assert(
      fc.property(trade, (t) => {
        const [tradeOut, aggOut] = BinanceProtocol.encode({ kind: "trade", trade: t })
        const common = { E: t.ts, s: venueName(t.symbol) }
        expect(tradeOut!.topic).toBe(streamOf(t.symbol, "trade"))
        expect(tradeOut!.frame).toBe(
          JSON.stringify({
            stream: tradeOut!.topic,
            data: { e: "trade", ...common, t: t.id, p: t.price, q: t.qty, T: t.ts, m: !t.takerBuy, M: true },
          }),
        )
        expect(aggOut!.topic).toBe(streamOf(t.symbol, "aggTrade"))
        expect(aggOut!.frame).toBe(
          JSON.stringify({
            stream: aggOut!.topic,
            data: {
              e: "aggTrade",
              ...common,
              a: t.id,
              p: t.price,
              q: t.qty,
              f: t.id,
              l: t.id,
              T: t.ts,
              m: !t.takerBuy,
              M: true,
            },
          }),
        )
      }),
      { numRuns: 2_000 },
    )
    fc.assert(
      fc.property(quote, (q) => {
        const [out] = BinanceProtocol.encode({ kind: "quote", quote: q })
        const data = { u: q.ts, s: venueName(q.symbol), b: q.bid, B: q.bidQty, a: q.ask, A: q.askQty }
        expect(out!.frame).toBe(JSON.stringify({ stream: streamOf(q.symbol, "bookTicker"), data }))
      }),
      { numRuns: 2_000 },
    )
  })

  it("enter the REST history exactly what reading them back from their text enters", () => {
    fc.assert(
      fc.property(trade, (t) => {
        for (const out of BinanceProtocol.encode({ kind: "trade", trade: t }))
          expect(out.ledger).toEqual(rest.record(out.frame))
      }),
      { numRuns: 2_000 },
    )
  })

  it("answer /api/v3/historicalTrades with Binance's quoteQty, price times quantity", () => {
    const ledger: Ledger = { records: new Map(), klines: new Map() }
    const t = { symbol: "BTC/USDT", id: 7, ts: 1_700_000_000_000, price: "101.5", qty: "0.25", takerBuy: false }
    for (const out of BinanceProtocol.encode({ kind: "trade", trade: t })) enter(ledger, out.ledger ?? [], rest)
    const answer = rest.answer("/api/v3/historicalTrades", new URLSearchParams({ symbol: "BTCUSDT" }), ledger)
    expect(answer.body).toEqual([
      { id: 7, price: "101.5", qty: "0.25", quoteQty: "25.375", time: t.ts, isBuyerMaker: true, isBestMatch: true },
    ])
  })
})
