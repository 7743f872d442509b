import { describe, expect, it } from "vitest"
import { binanceHistory } from "../../src/exchanges/binance/Venue.js"
import { coinbaseHistory } from "../../src/exchanges/coinbase/Venue.js"
import { krakenHistory, krakenRestPair } from "../../src/exchanges/kraken/Venue.js"

describe("venues' REST trade histories, on their documented answers", () => {
  it("Kraken: rows become trades with the taker's side and the time to the millisecond; pages go by second", () => {
    // The example answer of Kraken's "Get Recent Trades".
    const body = {
      error: [],
      result: {
        XXBTZUSD: [
          ["30243.40000", "0.34507674", 1688669597.8277369, "b", "m", "", 61044952],
          ["30243.30000", "0.00376960", 1688669598.2804112, "s", "l", "", 61044953],
        ],
        last: "1688671969993150842",
      },
    }
    const trades = krakenHistory.read(body, "BTC/USD", 0)
    expect(typeof trades).not.toBe("string")
    expect(
      (trades as Exclude<typeof trades, string>).map((t) => [t.seq, t.priceText, t.qtyText, t.side, t.exchangeTs]),
    ).toEqual([
      [61044952, "30243.40000", "0.34507674", "buy", 1688669597827],
      [61044953, "30243.30000", "0.00376960", "sell", 1688669598280],
    ])
    expect(krakenRestPair("BTC/USD")).toBe("XBTUSD")
    expect(krakenHistory.after("BTC/USD", 61044952, 1688669597827)).toEqual({
      path: "/0/public/Trades",
      query: { pair: "XBTUSD", since: 1688669597, count: 1_000 },
      weight: 1,
    })
    expect(krakenHistory.since.anchor(body, 1688669598000)).toBe(61044952)
    expect(krakenHistory.since.anchor(body, 1688669599000)).toBeUndefined()
    expect(krakenHistory.read({ error: ["EQuery:Unknown asset pair"] }, "BTC/USD", 0)).toMatch(/Unknown asset pair/)
    expect(krakenHistory.exhausted(999, 0)).toBe(true)
    expect(krakenHistory.exhausted(1_000, 3)).toBe(false)
  })

  it("Coinbase: newest-first records become ascending trades with the taker's side (the record names the maker's)", () => {
    const body = [
      { time: "2024-01-02T03:04:05.678912Z", trade_id: 102, price: "42000.01", size: "0.002", side: "sell" },
      { time: "2024-01-02T03:04:05.001Z", trade_id: 101, price: "42000.00", size: "0.5", side: "buy" },
    ]
    const trades = coinbaseHistory.read(body, "BTC/USD", 0) as ReadonlyArray<{ seq: number; side: string }>
    expect(trades.map((t) => [t.seq, t.side])).toEqual([
      [101, "sell"],
      [102, "buy"],
    ])
    // The page after id 100 is the newest 1,000 below 1,101: ids 101 to 1,100.
    expect(coinbaseHistory.after("BTC-USD", 100, 0)).toEqual({
      path: "/products/BTC-USD/trades",
      query: { after: 1_101, limit: 1_000 },
      weight: 1,
    })
    expect(coinbaseHistory.exhausted(1_000, 1_000)).toBe(false)
    expect(coinbaseHistory.exhausted(1_000, 999)).toBe(true)
    // The newest page holds the whole history here, so it reaches back to any time.
    expect(coinbaseHistory.since.anchor(body, 0)).toBe(100)
    const full = Array.from({ length: 1_000 }, (_, i) => ({ ...body[0]!, trade_id: 2_000 - i }))
    expect(coinbaseHistory.since.anchor(full, 0)).toMatch(/is later than/)
    expect(coinbaseHistory.read({ message: "NotFound" }, "BTC/USD", 0)).toMatch(/expected an array/)
  })

  it("Binance: a page cut by count from the id on is the end when it is short", () => {
    const history = binanceHistory({ tradeStream: "aggTrade" })
    expect(history.exhausted(999, 999)).toBe(true)
    expect(history.exhausted(1_000, 1_000)).toBe(false)
  })
})
