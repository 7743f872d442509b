import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { marketMessages } from "../../../src/actors/sinks/rabbitmq/RabbitSink.js"
import type { TradeTick } from "../../../src/actors/aggregation/Aggregator.js"
import type { ExchangeId } from "../../../src/schema/Market.js"
import { sampleCandle } from "../../support/samples.js"

const tickOf = (exchange: ExchangeId, symbol: string, id: number): TradeTick => ({
  trade: {
    _tag: "Trade",
    exchange,
    symbol,
    tradeId: String(id),
    seq: id,
    price: 100,
    qty: 1,
    priceText: "100",
    qtyText: "1",
    side: "buy",
    exchangeTs: 1_700_000_000_000 + id,
    recvTs: 1_700_000_000_000 + id,
    count: 1,
  },
  quote: undefined,
})

/** Records of two exchanges that list the same symbols, and candles among them. */
const records = fc.array(
  fc.oneof(
    fc.record({
      exchange: fc.constantFrom<ExchangeId>("binance", "okx"),
      symbol: fc.constantFrom("BTC/USDT", "ETH/USDT"),
    }),
    fc.constant("candle" as const),
  ),
  { maxLength: 60 },
)

describe("the RabbitMQ sink's messages for a write", () => {
  it("carry each candle alone and each exchange's symbol's ticks in order, at most TICK_BATCH_MAX a message", () => {
    fc.assert(
      fc.property(records, fc.integer({ min: 1, max: 7 }), (specs, max) => {
        const input = specs.map((s, i) =>
          s === "candle" ? { c: sampleCandle(i) } : { t: tickOf(s.exchange, s.symbol, i) },
        )
        const items = marketMessages(input, max)
        // Every record in exactly one message.
        expect(items.flatMap((it) => it.records).length).toBe(input.length)
        const sent = new Map<string, Array<number>>()
        for (const { message, records: rs } of items) {
          if ("c" in rs[0]!) {
            expect(rs).toHaveLength(1)
            expect(message.kind).toBe("candle")
            continue
          }
          const ticks = rs.map((r) => ("t" in r ? r.t.trade : undefined)!)
          expect(ticks.length).toBeLessThanOrEqual(max)
          // One exchange and symbol per message.
          expect(new Set(ticks.map((t) => `${t.exchange} ${t.symbol}`)).size).toBe(1)
          const key = `${ticks[0]!.exchange} ${ticks[0]!.symbol}`
          sent.set(key, [...(sent.get(key) ?? []), ...ticks.map((t) => t.seq)])
        }
        for (const [key, seqs] of sent) {
          const expected = input.flatMap((r) =>
            "t" in r && `${r.t.trade.exchange} ${r.t.trade.symbol}` === key ? [r.t.trade.seq] : [],
          )
          expect(seqs).toEqual(expected)
        }
      }),
      { numRuns: 500 },
    )
  })
})
