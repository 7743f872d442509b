import { describe, expect, it } from "vitest"
import { differences, DueCandles, windows } from "../../src/domain/Reconciliation.js"
import { SymbolMap } from "../../src/domain/SymbolMap.js"
import { binanceCandles, binanceInstrument, makeParser } from "../../src/exchanges/binance/Venue.js"
import type { Candle } from "../../src/schema/Candle.js"
import type { Trade } from "../../src/schema/Market.js"
import { aggregate } from "../support/candles.js"
import { type CoveredMinute, coveredMinutes, klineRow } from "../support/klines.js"
import { unified } from "../support/session.js"

const minutes = coveredMinutes()

/** Our final 1m candle of a covered minute, from its recorded trades (each frame passed through `edit`). */
const ours = (m: CoveredMinute, edit: (raw: string) => string = (raw) => raw): Candle => {
  const symbol = unified(m.kline.s)
  const parse = makeParser(new SymbolMap([symbol], binanceInstrument))
  const trades = m.frames.map((f) => parse(edit(f.raw), f.recvTs) as Trade)
  return aggregate(trades, symbol).find((c) => c.timeframe === "1m" && c.openTime === m.kline.t)!
}

/** The exchange's candle for it, read back from a REST row as the reconciler reads it. */
const theirs = (m: CoveredMinute) => {
  const read = binanceCandles.read([klineRow(m.kline)])
  if (typeof read === "string") throw new Error(read)
  return read[0]!
}

const ontTry = () => minutes.find((m) => m.kline.s === "ONTTRY")!

describe("reconciliation with Binance's own 1m candles", () => {
  it("finds no difference in any recorded minute the recorded trades fully cover", () => {
    expect(minutes.map((m) => m.kline.s).sort()).toEqual(["FTMUSDT", "LRCBTC", "ONTTRY", "QSPBTC", "SXPBTC"])
    for (const m of minutes) expect(differences(ours(m), theirs(m)), m.kline.s).toEqual([])
  })

  it("names each field a corrupted trade changes, with our value and the exchange's", () => {
    const m = ontTry()
    const corrupted = ours(m, (raw) => raw.replace('"q":"429.20000000"', '"q":"429.30000000"'))
    expect(differences(corrupted, theirs(m))).toEqual([
      // 0.1 more of a trade at 18.99.
      { field: "volume", ours: "899.25", theirs: "899.15000000" },
      { field: "quoteVolume", ours: "17046.3595", theirs: "17044.46050000" },
    ])
  })

  it("counts raw trades as Binance does: an aggTrade of two trades is two", () => {
    const m = ontTry()
    const split = ours(m, (raw) => raw.replace('"l":9340', '"l":9339'))
    expect(differences(split, theirs(m))).toEqual([{ field: "trades", ours: "9", theirs: "10" }])
  })

  it("takes a minute the exchange shows no candle for as agreeing only with one of ours without trades", () => {
    const candle = ours(ontTry())
    expect(differences(candle, undefined)).toEqual([{ field: "candle", ours: "10 trade(s)", theirs: "none" }])
    expect(differences({ ...candle, trades: 0 }, undefined)).toEqual([])
  })

  it("reads the REST rows, and says why an answer it cannot read is unreadable", () => {
    expect(theirs(ontTry())).toMatchObject({ openTime: 1618677360000, open: "19.00000000", trades: 10 })
    expect(binanceCandles.read([[1618677360000, "19.0"]])).toMatch(/^klines: /)
    expect(binanceCandles.read({ code: -1121, msg: "Invalid symbol." })).toMatch(/^klines: /)
    expect(binanceCandles.request("ONTTRY", 0, 59_999)).toEqual({
      path: "/api/v3/klines",
      query: { symbol: "ONTTRY", interval: "1m", startTime: 0, endTime: 59_999, limit: 1_000 },
      weight: 2,
    })
  })
})

describe("candles due for reconciliation", () => {
  const base = ours(ontTry())
  const at = (minute: number, patch: Partial<Candle> = {}): Candle => ({
    ...base,
    openTime: minute * 60_000,
    closeTime: minute * 60_000 + 59_999,
    ...patch,
  })

  it("holds final complete 1m candles until they closed, a revision replacing the candle it revises", () => {
    const due = new DueCandles()
    due.offer(at(1))
    due.offer(at(2, { revision: 0 }))
    due.offer(at(2, { revision: 1 }))
    due.offer(at(3, { isFinal: false }))
    due.offer(at(4, { timeframe: "5m" }))
    expect(due.take(base.symbol, 2 * 60_000).map((c) => c.openTime)).toEqual([60_000])
    expect(due.take(base.symbol, 4 * 60_000).map((c) => [c.openTime, c.revision])).toEqual([[120_000, 1]])
    expect(due.take(base.symbol, Number.MAX_SAFE_INTEGER)).toEqual([])
  })

  it("withdraws a minute that turned incomplete, and takes back what a failed request could not check", () => {
    const due = new DueCandles()
    due.offer(at(1))
    due.offer(at(1, { complete: false, revision: 1 }))
    expect(due.take(base.symbol, Number.MAX_SAFE_INTEGER)).toEqual([])
    due.offer(at(2, { revision: 0 }))
    const taken = due.take(base.symbol, Number.MAX_SAFE_INTEGER)
    due.offer(at(2, { revision: 1 }))
    due.restore(taken)
    expect(due.take(base.symbol, Number.MAX_SAFE_INTEGER).map((c) => c.revision)).toEqual([1])
  })

  it("keeps at most its capacity per symbol, dropping the oldest and counting them", () => {
    const due = new DueCandles(3)
    for (let m = 1; m <= 5; m++) due.offer(at(m))
    expect(due.takeDropped()).toEqual(new Map([[base.symbol, 2]]))
    expect(due.takeDropped()).toEqual(new Map())
    expect(due.take(base.symbol, Number.MAX_SAFE_INTEGER).map((c) => c.openTime / 60_000)).toEqual([3, 4, 5])
  })

  it("splits candles into windows one request can cover", () => {
    const candles = [0, 1, 2, 5, 9, 10].map((m) => at(m))
    expect(windows(candles, 5).map((w) => [w.fromTs / 60_000, (w.toTs + 1) / 60_000, w.candles.length])).toEqual([
      [0, 3, 3],
      [5, 10, 2],
      [10, 11, 1],
    ])
  })
})
