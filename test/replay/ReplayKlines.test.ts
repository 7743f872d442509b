import { describe, expect, it } from "vitest"
import { enter, type Ledger } from "../../src/exchanges/ReplayProtocol.js"
import { BinanceProtocol } from "../../src/exchanges/binance/Replay.js"
import { syntheticTrades } from "../../src/replay/Synthetic.js"
import { coveredMinutes, klineRow } from "../support/klines.js"
import { norm, referenceCandles } from "../support/reference.js"

const rest = BinanceProtocol.rest!

const emptyLedger = (): Ledger => ({ records: new Map(), klines: new Map() })

/** Enters frames into a ledger as the replay exchange does when its tape plays them. */
const played = (ledger: Ledger, frames: Iterable<string>) => {
  for (const frame of frames) enter(ledger, rest.record(frame), rest)
  return ledger
}

const klines = (ledger: Ledger, symbol: string, startTime: number, endTime: number) => {
  const query = new URLSearchParams({ symbol, interval: "1m", startTime: String(startTime), endTime: String(endTime) })
  const answer = rest.answer("/api/v3/klines", query, ledger)
  expect(answer.status).toBe(200)
  return answer.body as Array<Array<string | number>>
}

/** A kline row with every decimal normalised, so that `"19.00000000"` equals `"19"`. */
const normalised = (row: ReadonlyArray<string | number>) =>
  row.slice(0, 11).map((v, i) => (typeof v === "string" && i !== 0 && i !== 6 ? norm(v) : v))

describe("the replay exchange's /api/v3/klines, computed from its own tape", () => {
  it("equals Binance's own recorded klines for the minutes whose aggTrades were all recorded", () => {
    const minutes = coveredMinutes()
    expect(minutes.length).toBeGreaterThan(3)
    for (const { kline, frames } of minutes) {
      const ledger = played(
        emptyLedger(),
        frames.map((f) => f.raw),
      )
      const rows = klines(ledger, kline.s, kline.t, kline.T)
      expect(rows.map(normalised), `${kline.s} ${kline.t}`).toEqual([normalised(klineRow(kline))])
    }
  })

  it("over synthetic trades, equals the reference candles of exactly the minutes asked for", () => {
    const start = Date.UTC(2026, 0, 1, 0, 0, 30)
    const spec = { symbols: ["BTC/USDT", "ETH/USDT"], rate: 50, count: 20_000, start }
    const trades = syntheticTrades(spec)
    const ledger = played(
      emptyLedger(),
      trades.flatMap((t) => BinanceProtocol.encode({ kind: "trade", trade: t }).map((o) => o.frame)),
    )
    const btc = trades.filter((t) => t.symbol === "BTC/USDT")
    const reference = referenceCandles(
      btc.map((t) => ({ id: t.id, ts: t.ts, price: t.price, qty: t.qty, takerBuy: t.takerBuy, count: 1 })),
      60_000,
    )
    // From the second whole minute to the fourth: neither the partial first minute nor the fifth may appear.
    const from = start - (start % 60_000) + 60_000
    const rows = klines(ledger, "BTCUSDT", from, from + 3 * 60_000 - 1)
    expect(rows.map((r) => r[0])).toEqual([from, from + 60_000, from + 120_000])
    for (const row of rows) {
      const ref = reference.get(row[0] as number)!
      expect(normalised(row)).toEqual([
        ref.openTime,
        ref.open,
        ref.high,
        ref.low,
        ref.close,
        ref.volume,
        ref.openTime + 59_999,
        ref.quoteVolume,
        ref.trades,
        ref.takerBuyBase,
        ref.takerBuyQuote,
      ])
    }
  })

  it("serves the klines a test loaded instead, where it loaded them", () => {
    const ledger = played(emptyLedger(), [])
    const row = [60_000, "1", "2", "0.5", "1.5", "3", 119_999, "4", 2, "1", "2", "0"]
    ledger.klines.set("BTCUSDT", [row])
    expect(klines(ledger, "BTCUSDT", 0, 179_999)).toEqual([row])
    expect(klines(ledger, "ETHUSDT", 0, 179_999)).toEqual([])
  })
})
