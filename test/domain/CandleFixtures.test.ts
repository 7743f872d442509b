import { describe, expect, it } from "vitest"
import { binanceInstrument, makeParser } from "../../src/exchanges/binance/Venue.js"
import { SymbolMap } from "../../src/domain/SymbolMap.js"
import { DEFAULT_TIMEFRAMES, periodMs } from "../../src/schema/Candle.js"
import type { Trade } from "../../src/schema/Market.js"
import { aggregate } from "../support/candles.js"
import { fixtureLines, recordedAggTrades } from "../support/fixtures.js"
import { norm, referenceCandles } from "../support/reference.js"

const agg = recordedAggTrades()
const venueSymbols = [...new Set(agg.map((a) => a.s))]
// The recording's symbols only need a unified name that maps back to the venue name.
const unified = (venue: string) => `${venue.slice(0, 3)}/${venue.slice(3)}`
const symbols = new SymbolMap(venueSymbols.map(unified), binanceInstrument)
const parse = makeParser(symbols)

const parsedTrades = (): Array<Trade> =>
  fixtureLines("binance/aggTrade.jsonl").map((line) => {
    const f = parse(line, 0)
    if (f._tag !== "Trade") throw new Error(`fixture frame did not parse as a trade: ${line}`)
    return f
  })

describe("candles from recorded Binance aggTrades", () => {
  it("match an independent decimal computation in every field, for every timeframe and bucket", () => {
    const trades = parsedTrades()
    let compared = 0
    for (const venue of venueSymbols) {
      const symbol = unified(venue)
      const mine = trades.filter((t) => t.symbol === symbol)
      const candles = aggregate(mine, symbol)
      for (const tf of DEFAULT_TIMEFRAMES) {
        const expected = referenceCandles(
          mine.map((t) => ({
            id: t.seq,
            ts: t.exchangeTs,
            price: t.priceText,
            qty: t.qtyText,
            takerBuy: t.side === "buy",
            count: t.count,
          })),
          periodMs(tf),
        )
        const actual = candles.filter((c) => c.timeframe === tf)
        expect(actual.map((c) => c.openTime).sort()).toEqual([...expected.keys()].sort())
        for (const c of actual) {
          const e = expected.get(c.openTime)!
          expect({
            open: norm(c.open),
            high: norm(c.high),
            low: norm(c.low),
            close: norm(c.close),
            volume: norm(c.volume),
            quoteVolume: norm(c.quoteVolume),
            trades: c.trades,
            takerBuyBase: norm(c.takerBuyBase),
            takerBuyQuote: norm(c.takerBuyQuote),
            vwap: c.vwap === null ? null : norm(c.vwap),
          }).toEqual({
            open: e.open,
            high: e.high,
            low: e.low,
            close: e.close,
            volume: e.volume,
            quoteVolume: e.quoteVolume,
            trades: e.trades,
            takerBuyBase: e.takerBuyBase,
            takerBuyQuote: e.takerBuyQuote,
            vwap: e.vwap,
          })
          expect(c.closeTime).toBe(c.openTime + periodMs(tf) - 1)
          expect(c.isFinal).toBe(true)
          expect(c.complete).toBe(true)
          compared++
        }
      }
    }
    expect(compared).toBeGreaterThan(100)
  })

  it("reproduce the o, h, l, c, v, q and n of all nine running klines whose first trade was recorded", () => {
    interface Kline {
      s: string
      t: number
      f: number
      L: number
      o: string
      h: string
      l: string
      c: string
      v: string
      q: string
      n: number
      x: boolean
    }
    const klines = fixtureLines("binance/kline_1m.jsonl")
      .map((l) => (JSON.parse(l) as { data: { k: Kline } }).data.k)
      .filter((k) => !k.x)
    const trades = parsedTrades()
    const checked: Array<string> = []
    for (const k of klines) {
      const first = agg.find((a) => a.s === k.s && a.f === k.f)
      if (first === undefined) continue
      // Feed the recorded aggTrades of that minute whose raw trades lie within f..L, as the exchange had them.
      const ids = new Set(agg.filter((a) => a.s === k.s && a.f >= k.f && a.l <= k.L).map((a) => a.a))
      const symbol = unified(k.s)
      const input = trades.filter((t) => t.symbol === symbol && ids.has(t.seq))
      const candle = aggregate(input, symbol).find((c) => c.timeframe === "1m" && c.openTime === k.t)
      expect(candle, `${k.s} ${k.t}`).toBeDefined()
      expect([
        norm(candle!.open),
        norm(candle!.high),
        norm(candle!.low),
        norm(candle!.close),
        norm(candle!.volume),
        norm(candle!.quoteVolume),
        candle!.trades,
      ]).toEqual([norm(k.o), norm(k.h), norm(k.l), norm(k.c), norm(k.v), norm(k.q), k.n])
      checked.push(`${k.s}:${k.L}`)
    }
    expect(checked).toHaveLength(9)
  })
})
