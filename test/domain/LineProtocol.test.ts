import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { describe, expect, it } from "vitest"
import { candleLine, signalLine, subMillisecond, tickLine } from "../../src/domain/LineProtocol.js"
import { textOf } from "../../src/domain/Enrichment.js"
import type { Tick } from "../../src/schema/Market.js"
import { sampleCandle } from "../support/samples.js"

describe("line protocol for the seed's measurements", () => {
  it("writes a tick with the BTC_USDT tag, float fields, and a nanosecond time unique within its millisecond", () => {
    const tick: Tick = {
      exchange: "binance",
      symbol: "BTC/USDT",
      bid: 30000,
      ask: 30000.2,
      last: 30000.1,
      volume: 0.01,
      timestamp: 1_700_000_000_000,
      mid: 30000.1,
      spread: 0.2,
      spreadBps: 0.0667,
    }
    expect(tickLine(textOf(tick), "123456789")).toBe(
      "market_ticks,exchange=binance,symbol=BTC_USDT last=30000.1,bid=30000,ask=30000.2,mid=30000.1,spread=0.2,spread_bps=0.0667,volume=0.01 1700000000000456789",
    )
    // Without a book yet there is no bid, ask or spread: the fields are left out, not written as 0.
    expect(tickLine(textOf({ ...tick, bid: null, ask: null, mid: null, spread: null, spreadBps: null }), "7")).toBe(
      "market_ticks,exchange=binance,symbol=BTC_USDT last=30000.1,volume=0.01 1700000000000000007",
    )
  })

  it("builds each line as one flat string, not a rope of its pieces, for the time it waits in the sink's buffer", () => {
    setFlagsFromString("--expose-gc")
    const gc = runInNewContext("gc") as () => void
    const ticks = Array.from({ length: 20_000 }, (_, i) =>
      textOf({
        exchange: "binance",
        symbol: "BTC/USDT",
        bid: 30_000 + i / 7,
        ask: 30_000.2 + i / 7,
        last: 30_000.1 + i / 3,
        volume: i / 11,
        timestamp: 1_700_000_000_000 + i,
        mid: 30_000.1 + i / 7,
        spread: 0.2 + i / 1e6,
        spreadBps: 0.0667 + i / 1e7,
      }),
    )
    const ids = ticks.map((_, i) => String(9_000_000 + i))
    gc()
    const before = process.memoryUsage().heapUsed
    const lines = ticks.map((t, i) => tickLine(t, ids[i]!))
    gc()
    const perLine = (process.memoryUsage().heapUsed - before) / lines.length
    // 150 characters: flat, a line holds about 250 bytes; as a rope of its pieces, about 780.
    expect(perLine).toBeLessThan(320)
    expect(lines[0]!.length).toBe(150)
  })

  it("keeps consecutive trade ids apart and derives the same part from the same id", () => {
    const numeric = Array.from({ length: 1_000 }, (_, i) => subMillisecond(String(9_999_500 + i)))
    expect(new Set(numeric).size).toBe(1_000)
    const uuids = ["4b0f6c1e-aaaa", "4b0f6c1e-aaab", "ff00-1", "ff00-2"].map(subMillisecond)
    expect(new Set(uuids).size).toBe(4)
    expect(subMillisecond("4b0f6c1e-aaaa")).toBe(uuids[0])
    expect(uuids.every((n) => n >= 0 && n < 1_000_000)).toBe(true)
  })

  it("writes a candle keyed by its open time with trades as an integer and exact decimal text", () => {
    expect(candleLine({ ...sampleCandle(0), symbol: "BTC/USDT:USDT", volume: "0.00000001" })).toBe(
      "market_ohlcv,exchange=binance,symbol=BTC_USDT:USDT,timeframe=1m open=30000.01,high=30010.5,low=29990.1,close=30001.7,volume=0.00000001,trades=420i,vwap=30001.2,revision=0i,is_final=true,complete=true 1700000000000000000",
    )
    expect(candleLine({ ...sampleCandle(0), vwap: null, trades: 0 })).toContain(",trades=0i,revision=0i,")
    // A shutdown snapshot and a candle with an unfilled gap say so.
    expect(candleLine({ ...sampleCandle(0), isFinal: false, complete: false, revision: 2 })).toContain(
      ",revision=2i,is_final=false,complete=false 1700000000000000000",
    )
  })

  it("writes a signal with escaped tags and model_version as a string", () => {
    const line = signalLine({
      exchange: "kraken",
      symbol: "BTC/USD",
      signal: "hold",
      risk_level: "very high, =x",
      confidence: 0.5,
      prob_buy: 0.25,
      prob_hold: 0.5,
      prob_sell: 0.25,
      risk_score: 3,
      inference_time_ms: 1.5,
      model_version: 'v"3"',
      timestamp: 1_700_000_000_000,
    })
    expect(line).toBe(
      'ml_signals,exchange=kraken,symbol=BTC_USD,signal=hold,risk_level=very\\ high\\,\\ \\=x confidence=0.5,prob_buy=0.25,prob_hold=0.5,prob_sell=0.25,risk_score=3,inference_time_ms=1.5,model_version="v\\"3\\"" 1700000000000000000',
    )
  })
})
