import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { tickBatchMessage, tickRecord } from "../../src/actors/sinks/rabbitmq/Messages.js"
import { tickText } from "../../src/domain/Enrichment.js"
import { candleLine, tickLine } from "../../src/domain/LineProtocol.js"
import { SymbolMap } from "../../src/domain/SymbolMap.js"
import { SymbolPipeline } from "../../src/domain/SymbolPipeline.js"
import { VENUES } from "../../src/exchanges/registry.js"
import { type Decoded, withLimits } from "../../src/exchanges/Venue.js"
import { PROTOCOLS } from "../../src/exchanges/registry.js"
import type { SyntheticTrade } from "../../src/exchanges/ReplayProtocol.js"
import type { Candle } from "../../src/schema/Candle.js"
import type { ExchangeId, Quote, Trade } from "../../src/schema/Market.js"
import { PIPELINE_OPTIONS } from "../../bench/frames.js"
import { flipped, pathsOf, replacedAt } from "../support/hostile.js"

/**
 * Property tests of every venue's decoder as the feed runs it (held to the edge limits), and of everything a
 * decoded trade goes through after it. `npm test` runs them with a fixed seed; `npm run fuzz` runs them longer
 * (FUZZ_RUNS, FUZZ_SEED).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1_000)
const SEED = Number(process.env.FUZZ_SEED ?? 20261130)
const settings = { numRuns: RUNS, seed: SEED, endOnFailure: true }

const EXCHANGES: ReadonlyArray<ExchangeId> = ["binance", "coinbase", "kraken", "bybit", "okx"]
const FUTURE_TOLERANCE_MS = 10_000
const symbolsOf = (e: ExchangeId) =>
  e === "coinbase" || e === "kraken" ? ["BTC/USD", "ETH/USD"] : ["BTC/USDT", "ETH/USDT"]

const decoderOf = (e: ExchangeId) => {
  const venue = VENUES[e]
  return withLimits(venue.decoder(new SymbolMap(symbolsOf(e), venue.instrument, venue.aliases)), FUTURE_TOLERANCE_MS)
}

/** The frames the venue sends for one trade (Binance: its `@trade` and `@aggTrade` forms). */
const framesOf = (e: ExchangeId, trade: SyntheticTrade): ReadonlyArray<string> =>
  PROTOCOLS[e].encode({ kind: "trade", trade }).map((o) => o.frame)

/** A positive decimal as an exchange writes it: up to 8 fractional digits, trailing zeros kept. */
const decimalText = fc
  .tuple(fc.integer({ min: 1, max: 999_999_999_999 }), fc.integer({ min: 0, max: 8 }))
  .map(([units, scale]) => {
    const digits = String(units).padStart(scale + 1, "0")
    return scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`
  })

const tradeArb = (e: ExchangeId) =>
  fc.record({
    symbol: fc.constantFrom(...symbolsOf(e)),
    id: fc.integer({ min: 1, max: 2 ** 48 }),
    ts: fc.integer({ min: Date.UTC(2015, 0, 1), max: Date.UTC(2030, 0, 1) }),
    price: decimalText,
    qty: decimalText,
    takerBuy: fc.boolean(),
  })

const itemsOf = (d: Decoded): ReadonlyArray<Trade | Quote> =>
  d._tag === "Batch" ? d.items : d._tag === "Trade" || d._tag === "Quote" ? [d] : []

/** Values that are never market data, each in a place where the venue expects one. */
const hostileValue = fc.oneof(
  fc.constantFrom<unknown>(
    8_640_000_000_000_001,
    0,
    -1,
    1.5,
    Number.MAX_SAFE_INTEGER + 2,
    1e308,
    -1e308,
    "",
    "-0",
    "1e400",
    // An exponent that would make a decimal of ten million digits.
    "0.9e9204000",
    "1e-9999999",
    "NaN",
    "Infinity",
    "0x10",
    `1${"0".repeat(400)}`,
    "x".repeat(10_000),
    null,
    true,
    {},
    [],
    "2999-01-01T00:00:00Z",
    "1970-01-01T00:00:00Z",
  ),
  fc.integer({ min: 40, max: 5_000 }).map((depth) => JSON.parse(`${"[".repeat(depth)}1${"]".repeat(depth)}`)),
  fc.anything({ maxDepth: 3 }),
)

/** A frame made hostile: truncated, bytes flipped, a value replaced or dropped, or wrapped in deep nesting. */
const mutate = (frame: string) =>
  fc.oneof(
    fc.integer({ min: 0, max: frame.length - 1 }).map((n) => frame.slice(0, n)),
    fc
      .array(fc.tuple(fc.nat(frame.length - 1), fc.integer({ min: 0, max: 0xffff })), { minLength: 1, maxLength: 4 })
      .map((flips) => flipped(frame, flips)),
    fc.tuple(fc.constantFrom(...pathsOf(JSON.parse(frame))), hostileValue, fc.boolean()).map(([path, value, drop]) => {
      try {
        return replacedAt(frame, path, drop ? undefined : value)
      } catch {
        // fc.anything can make what JSON cannot hold (BigInt): a frame cut short instead.
        return frame.slice(0, -1)
      }
    }),
    fc.integer({ min: 1, max: 10_000 }).map((depth) => `${"[".repeat(depth)}${frame}${"]".repeat(depth)}`),
    fc.integer({ min: 1, max: 10_000 }).map((depth) => `${"[".repeat(depth)}`),
  )

const REFUSALS = new Set(["Invalid", "Ignored", "Control", "ServerError", "Shutdown"])

/** What a decoded frame must be: trades and quotes within the limits, or a refusal with a bounded reason. */
const expectWellFormed = (d: Decoded, recvTs: number) => {
  if (d._tag === "Trade" || d._tag === "Quote" || d._tag === "Batch") {
    for (const x of itemsOf(d)) {
      if (x._tag === "Quote") {
        expect(Number.isFinite(x.bid) && Number.isFinite(x.ask)).toBe(true)
        continue
      }
      expect(Number.isSafeInteger(x.exchangeTs)).toBe(true)
      expect(x.exchangeTs).toBeLessThanOrEqual(recvTs + FUTURE_TOLERANCE_MS)
      expect(Number.isFinite(x.price) && Number.isFinite(x.qty)).toBe(true)
      expect(Number.isSafeInteger(x.seq) && Number.isSafeInteger(x.count) && x.count >= 1).toBe(true)
      expect(x.priceText.length + x.qtyText.length).toBeLessThanOrEqual(80)
    }
    return
  }
  expect(REFUSALS.has(d._tag)).toBe(true)
  if (d._tag === "Invalid") {
    expect(d.reason.length).toBeGreaterThan(0)
    expect(d.detail().length).toBeLessThan(1_000)
  }
}

/** Runs what follows decoding (validation, aggregation, enrichment, lines and messages) over a frame's trades. */
const downstream = (pipeline: SymbolPipeline, d: Decoded, now: number) => {
  const out: Array<Candle> = []
  for (const x of itemsOf(d)) {
    if (x._tag === "Quote") {
      pipeline.onQuote(x)
      continue
    }
    const tick = pipeline.onTrade({ ...x, symbol: pipeline.aggregator.symbol }, now)
    if (tick !== undefined) {
      tickLine(tickText(tick), x.tradeId)
      tickBatchMessage([tickRecord(tick)])
    }
  }
  pipeline.advance(now + 3_600_000, out)
  for (const c of out) {
    candleLine(c)
    JSON.stringify(c)
  }
}

describe.each(EXCHANGES)("%s decoder under fuzzing (fixed seed)", (exchange) => {
  it("decodes a valid frame to exactly the trade it encodes, decimal text kept", () => {
    const decode = decoderOf(exchange)
    fc.assert(
      fc.property(tradeArb(exchange), fc.integer({ min: 0, max: 5_000 }), (t, delay) => {
        for (const frame of framesOf(exchange, t)) {
          const got = itemsOf(decode(frame, t.ts + delay)).filter((x): x is Trade => x._tag === "Trade")
          expect(got).toHaveLength(1)
          expect(got[0]).toMatchObject({
            exchange,
            symbol: t.symbol,
            tradeId: String(t.id),
            priceText: t.price,
            qtyText: t.qty,
            price: Number(t.price),
            qty: Number(t.qty),
            side: t.takerBuy ? "buy" : "sell",
            exchangeTs: t.ts,
            count: 1,
          })
        }
      }),
      settings,
    )
  })

  it("never throws, and a mutated frame is a trade within the limits or refused with a reason", () => {
    const decode = decoderOf(exchange)
    const pipeline = new SymbolPipeline(exchange, symbolsOf(exchange)[0]!, PIPELINE_OPTIONS)
    const mutated = tradeArb(exchange).chain((t) =>
      fc.tuple(fc.constant(t), fc.constantFrom(...framesOf(exchange, t)).chain(mutate)),
    )
    fc.assert(
      fc.property(mutated, ([t, frame]) => {
        const recvTs = t.ts + 1
        const d = decode(frame, recvTs)
        expect(d._tag).not.toBe("Defect")
        expectWellFormed(d, recvTs)
        downstream(pipeline, d, recvTs)
      }),
      settings,
    )
  })

  it("never throws on arbitrary text or JSON", () => {
    const decode = decoderOf(exchange)
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.json({ maxDepth: 6 })), (text) => {
        const d = decode(text, Date.UTC(2026, 0, 1))
        expect(d._tag).not.toBe("Defect")
        expectWellFormed(d, Date.UTC(2026, 0, 1))
      }),
      settings,
    )
  })
})

describe("a decoder that throws", () => {
  it("yields a Defect carrying the error instead of throwing", () => {
    const planted = new Error("planted defect")
    const decode = withLimits(() => {
      throw planted
    }, FUTURE_TOLERANCE_MS)
    expect(decode("{}", 0)).toEqual({ _tag: "Defect", error: planted })
  })
})
