import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { decodeRecord, encodeRecord, marketMessages } from "../../../src/actors/sinks/rabbitmq/RabbitSink.js"
import { tickRecord } from "../../../src/actors/sinks/rabbitmq/Messages.js"
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
          s === "candle" ? { c: sampleCandle(i) } : tickRecord(tickOf(s.exchange, s.symbol, i)),
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
          const ticks = rs.map((r) => ("tradeId" in r ? r : undefined)!)
          expect(ticks.length).toBeLessThanOrEqual(max)
          // One exchange and symbol per message.
          expect(new Set(ticks.map((t) => `${t.exchange} ${t.symbol}`)).size).toBe(1)
          const key = `${ticks[0]!.exchange} ${ticks[0]!.symbol}`
          sent.set(key, [...(sent.get(key) ?? []), ...ticks.map((t) => Number(t.tradeId))])
        }
        for (const [key, seqs] of sent) {
          const expected = input.flatMap((r) =>
            "tradeId" in r && `${r.exchange} ${r.symbol}` === key ? [Number(r.tradeId)] : [],
          )
          expect(seqs).toEqual(expected)
        }
      }),
      { numRuns: 500 },
    )
  })

  it("come from disk-buffer lines as they were offered, including the lines of the version that kept trades", () => {
    const quote = {
      _tag: "Quote" as const,
      exchange: "binance" as const,
      symbol: "BTC/USDT",
      bid: 99.5,
      ask: 100.5,
      bidQty: 1,
      askQty: 2,
      ts: 1,
    }
    const tick = { ...tickOf("binance", "BTC/USDT", 42), quote }
    const records = [
      { c: sampleCandle(1), tp: "00-a-b-01" },
      tickRecord(tick, "00-c-d-01"),
      tickRecord(tickOf("okx", "ETH/USDT", 7)),
    ]
    const bodies = (rs: ReadonlyArray<unknown>) =>
      marketMessages(rs as Parameters<typeof marketMessages>[0], 10).map((i) => [
        i.message.messageId,
        i.message.body.toString(),
        i.message.traceparent,
      ])
    const read = records.map((r) => decodeRecord(encodeRecord(r)))
    expect(bodies(read)).toEqual(bodies(records))
    // What the previous version wrote for the same tick: its trade and quote, which make the same message.
    const old = JSON.stringify({ t: { trade: tick.trade, quote }, tp: "00-c-d-01" })
    expect(bodies([decodeRecord(old)])).toEqual(bodies([records[1]]))
    for (const bad of ["", "{", "[]", '{"t":{}}', '{"json":1,"tradeId":"1"}', '{"c":{}}'])
      expect(decodeRecord(bad)).toBeUndefined()
  })
})
