import { describe, expect, it } from "vitest"
import { enrich, tickOf, tickText } from "../../src/domain/Enrichment.js"
import { sampleTick } from "../support/samples.js"

describe("enrichment", () => {
  it("derives the tick's book fields from the quote the trade was seen with", () => {
    const { trade, quote } = sampleTick(3)
    expect(tickOf(enrich(trade, quote))).toEqual({
      exchange: "binance",
      symbol: "BTC/USDT",
      bid: 30000,
      ask: 30000.2,
      last: 30000.1,
      volume: 0.01,
      timestamp: 1_700_000_000_003,
      mid: 30000.1,
      spread: 30000.2 - 30000,
      spreadBps: ((30000.2 - 30000) / 30000.1) * 10_000,
    })
  })

  it("leaves the book fields null without a quote or with an empty side", () => {
    const { trade, quote } = sampleTick(0)
    const none = { bid: null, ask: null, mid: null, spread: null, spreadBps: null }
    expect(tickOf(enrich(trade, undefined))).toMatchObject(none)
    expect(tickOf(enrich(trade, { ...quote!, bid: 0 }))).toMatchObject(none)
  })

  it("formats a tick's numbers once, as JSON writes them, for every sink that writes it", () => {
    const { trade, quote } = sampleTick(3)
    const tick = enrich(trade, quote)
    const text = tickText(tick)
    expect(tickText(tick)).toBe(text)
    const json = JSON.parse(JSON.stringify(tickOf(tick))) as Record<string, unknown>
    for (const k of ["bid", "ask", "last", "volume", "mid", "spread", "spreadBps"] as const)
      expect(JSON.parse(text[k]), k).toBe(json[k])
    expect(tickText(enrich(trade, undefined)).bid).toBe("null")
  })
})
