import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { tickBatchBody, tickMessage, tickRecord } from "../../../src/actors/sinks/rabbitmq/Messages.js"
import { tickOf } from "../../../src/domain/Enrichment.js"
import type { TradeTick } from "../../../src/actors/aggregation/Aggregator.js"

const price = fc.oneof(fc.double({ min: 1e-9, max: 1e9, noNaN: true }), fc.constantFrom(0, 1e21, 123.456, 0.1 + 0.2))
const tick = fc.record({
  id: fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 15n }).map(String), fc.string()),
  price,
  qty: price,
  ts: fc.integer({ min: 0, max: 4_102_444_800_000 }),
  quote: fc.option(fc.record({ bid: fc.oneof(price, fc.constant(-1)), ask: price }), { nil: undefined }),
})

describe("ticks on market.ticks", () => {
  it("are exactly JSON.stringify of {exchange, symbol, ticks: [{…tick, tradeId}]}, or of the tick alone, for any prices, quotes and ids", () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.array(tick, { minLength: 1, maxLength: 5 }), (exchange, symbol, xs) => {
        const ticks = xs.map((x): TradeTick => ({
          trade: {
            _tag: "Trade",
            exchange: exchange as TradeTick["trade"]["exchange"],
            symbol,
            tradeId: x.id,
            seq: -1,
            price: x.price,
            qty: x.qty,
            priceText: String(x.price),
            qtyText: String(x.qty),
            side: "buy",
            exchangeTs: x.ts,
            recvTs: x.ts,
            count: 1,
          },
          quote:
            x.quote === undefined
              ? undefined
              : { _tag: "Quote", exchange: "binance", symbol, bidQty: 1, askQty: 1, ts: x.ts, ...x.quote },
        }))
        const records = ticks.map((t) => tickRecord(t))
        expect(tickBatchBody(exchange, symbol, records)).toBe(
          JSON.stringify({ exchange, symbol, ticks: ticks.map((t) => ({ ...tickOf(t), tradeId: t.trade.tradeId })) }),
        )
        // One tick per message (TICK_BATCH_MAX=1): the tick alone, its id in the message's.
        records.forEach((r, i) => expect(tickMessage(r).body.toString()).toBe(JSON.stringify(tickOf(ticks[i]!))))
      }),
      { numRuns: 2_000, seed: 20261203 },
    )
  })
})
