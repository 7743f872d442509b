import { expect } from "vitest"
import { CandleAggregator } from "../../src/domain/CandleAggregator.js"
import { checkTrade, makeSlot } from "../../src/domain/TradeCheck.js"
import { VENUES } from "../../src/exchanges/registry.js"
import { type SyntheticSpec, syntheticTrades } from "../../src/replay/Synthetic.js"
import { type Candle, DEFAULT_TIMEFRAMES, periodMs, type Timeframe } from "../../src/schema/Candle.js"
import type { ExchangeId, Trade } from "../../src/schema/Market.js"
import { norm, type RefTrade, referenceCandles } from "./reference.js"
import { until } from "./daemon.js"
import { type StoredCandle, storedCandles } from "./postgres.js"

/** What one exchange's feed was sent: its trades per unified symbol. */
export interface Sent {
  readonly exchange: ExchangeId
  readonly trades: ReadonlyMap<string, ReadonlyArray<RefTrade>>
}

const lastEventOf = (sent: Sent) => {
  let last = Number.NEGATIVE_INFINITY
  for (const trades of sent.trades.values()) for (const t of trades) last = Math.max(last, t.ts)
  return last
}

/** The trades a synthetic tape sends, per symbol. */
export const sentOf = (exchange: ExchangeId, spec: SyntheticSpec & { readonly count: number }): Sent => {
  const trades = new Map<
    string,
    Array<{ id: number; ts: number; price: string; qty: string; takerBuy: boolean; count: number }>
  >()
  for (const t of syntheticTrades(spec)) {
    const list = trades.get(t.symbol) ?? []
    list.push({ id: t.id, ts: t.ts, price: t.price, qty: t.qty, takerBuy: t.takerBuy, count: 1 })
    trades.set(t.symbol, list)
  }
  return { exchange, trades }
}

/** Candles that must be final by the end of the replay: those closed a grace period before its last trade. */
export const expectedFinals = (sent: Sent, graceMs: number): Set<string> => {
  const lastEvent = lastEventOf(sent)
  const keys = new Set<string>()
  for (const [symbol, trades] of sent.trades)
    for (const tf of DEFAULT_TIMEFRAMES)
      for (const b of referenceCandles(trades, periodMs(tf)).keys())
        if (b + periodMs(tf) - 1 + graceMs <= lastEvent) keys.add(`${symbol} ${tf} ${b}`)
  return keys
}

/**
 * Final candles as the daemon's own HTTP API reports them, counted once complete: a fresh start's first candles are
 * final before the trades ahead of its first one are fetched. Where the venue's history does not reach back that far,
 * they never are.
 */
export const finalsOverHttp = async (httpPort: number, sent: Sent): Promise<Set<string>> => {
  const unfillable = VENUES[sent.exchange].historyReachesBack !== true
  const keys = new Set<string>()
  for (const symbol of sent.trades.keys())
    for (const tf of DEFAULT_TIMEFRAMES) {
      const q = new URLSearchParams({ exchange: sent.exchange, symbol, timeframe: tf })
      const res = await fetch(`http://127.0.0.1:${httpPort}/api/candles?${q}`)
      const body = (await res.json()) as { candles: Array<{ openTime: number; isFinal: boolean; complete: boolean }> }
      for (const c of body.candles)
        if (c.isFinal && (c.complete || unfillable)) keys.add(`${symbol} ${tf} ${c.openTime}`)
    }
  return keys
}

/** Waits until each candle of `keys` (`<symbol> <timeframe> <open time>`) is stored in PostgreSQL final and complete. */
export const untilStoredComplete = (url: string, keys: Iterable<string>, what = "every final candle stored complete") =>
  until(
    what,
    async () => {
      const done = new Set(
        (await storedCandles(url))
          .filter((c) => c.is_final && c.complete)
          .map((c) => `${c.symbol} ${c.timeframe} ${c.timestamp}`),
      )
      return [...keys].every((k) => done.has(k))
    },
    60_000,
  )

/**
 * Every stored candle of the exchange equals the independent computation from the trades it was sent, each
 * trade counted once; every candle closed before the last trade is final; empty intervals are flat. Every candle
 * is complete, except on a venue without trade history, where those open at the first trade of a fresh start cannot
 * be filled and must say so (`coldStartUnfilled`, by default whether the venue's history reaches back that far).
 */
export const expectCandlesMatch = (
  stored: ReadonlyArray<StoredCandle>,
  sent: Sent,
  graceMs: number,
  options: {
    readonly openMayBeMissing?: boolean
    readonly timeframes?: ReadonlyArray<Timeframe>
    readonly coldStartUnfilled?: boolean
  } = {},
): void => {
  const lastEvent = lastEventOf(sent)
  const seen = new Set<string>()
  const coldStartUnfilled = options.coldStartUnfilled ?? VENUES[sent.exchange].historyReachesBack !== true
  for (const [symbol, trades] of sent.trades) {
    const first = trades.reduce((min, t) => Math.min(min, t.ts), Number.POSITIVE_INFINITY)
    for (const tf of options.timeframes ?? DEFAULT_TIMEFRAMES) {
      const expected = referenceCandles(trades, periodMs(tf))
      const rows = stored.filter((c) => c.exchange === sent.exchange && c.symbol === symbol && c.timeframe === tf)
      let previousClose: string | undefined
      for (const row of rows) {
        const key = `${sent.exchange} ${symbol} ${tf} ${row.timestamp}`
        seen.add(key)
        if (row.close_time + graceMs <= lastEvent) expect(row.is_final, `${key} final`).toBe(true)
        const cold = coldStartUnfilled && row.timestamp <= first && first <= row.close_time
        expect(row.complete, `${key} ${cold ? "incomplete (fresh start, no history)" : "complete"}`).toBe(!cold)
        const e = expected.get(row.timestamp)
        if (e === undefined) {
          expect(row.trades, `${key} is an empty interval`).toBe(0)
          expect([row.open, row.high, row.low, row.close].map(norm)).toEqual(Array(4).fill(norm(previousClose!)))
          expect(norm(row.volume)).toBe("0")
        } else {
          expect(
            [
              row.open,
              row.high,
              row.low,
              row.close,
              row.volume,
              row.quote_volume,
              row.taker_buy_base,
              row.taker_buy_quote,
            ].map(norm),
            key,
          ).toEqual([e.open, e.high, e.low, e.close, e.volume, e.quoteVolume, e.takerBuyBase, e.takerBuyQuote])
          expect(row.trades, `${key} trades`).toBe(e.trades)
        }
        previousClose = row.close
      }
      for (const b of expected.keys()) {
        const open = b + periodMs(tf) - 1 + graceMs > lastEvent
        if (open && options.openMayBeMissing === true) continue
        expect(seen.has(`${sent.exchange} ${symbol} ${tf} ${b}`), `${sent.exchange} ${symbol} ${tf} ${b} stored`).toBe(
          true,
        )
      }
    }
  }
}

/** Every candle the aggregator builds from `trades` (all valid, in order), finalised; empty minutes skipped. */
export const aggregate = (trades: ReadonlyArray<Trade>, symbol: string): Array<Candle> => {
  const aggregator = new CandleAggregator("binance", symbol, {
    timeframes: DEFAULT_TIMEFRAMES,
    graceMs: 2_000,
    emptyCandles: "skip",
    amendHorizonMs: Number.MAX_SAFE_INTEGER,
    repairHorizonMs: Number.MAX_SAFE_INTEGER,
  })
  const slot = makeSlot()
  for (const t of trades) {
    expect(checkTrade(t, t.exchangeTs, 0, slot)).toBeUndefined()
    aggregator.addTrade(slot)
  }
  const out: Array<Candle> = []
  aggregator.advance(Number.MAX_SAFE_INTEGER, out)
  return out
}
