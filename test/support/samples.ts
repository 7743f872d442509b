import type { TradeTick } from "../../src/actors/Aggregator.js"
import type { Candle } from "../../src/schema/Candle.js"
import type { Signal } from "../../src/schema/Signal.js"

/** The i-th of a series of final BTC/USDT 1m candles, for sink tests and benchmarks. */
export const sampleCandle = (i: number): Candle => ({
  exchange: "binance",
  symbol: "BTC/USDT",
  timeframe: "1m",
  openTime: 1_700_000_000_000 + i * 60_000,
  closeTime: 1_700_000_000_000 + i * 60_000 + 59_999,
  open: "30000.01",
  high: "30010.5",
  low: "29990.1",
  close: "30001.7",
  volume: "12.345678",
  quoteVolume: "370381.2345",
  trades: 420,
  takerBuyBase: "6.1",
  takerBuyQuote: "183001.2",
  vwap: "30001.2",
  lastTradeId: String(i),
  isFinal: true,
  revision: 0,
  complete: true,
})

/** The i-th of a series of BTC/USDT ticks, trade id `t<i>`. */
export const sampleTick = (i: number): TradeTick => ({
  tradeId: `t${i}`,
  tick: {
    exchange: "binance",
    symbol: "BTC/USDT",
    bid: 30000,
    ask: 30000.2,
    last: 30000.1,
    volume: 0.01,
    timestamp: 1_700_000_000_000 + i,
    mid: 30000.1,
    spread: 0.2,
    spreadBps: 0.0667,
  },
})

/** A model signal as published on `neuraltrade.signals`, with the given fields replaced. */
export const sampleSignal = (overrides: Partial<Signal> = {}): Signal => ({
  exchange: "binance",
  symbol: "BTC/USDT",
  signal: "buy",
  risk_level: "low",
  confidence: 0.91,
  prob_buy: 0.91,
  prob_hold: 0.06,
  prob_sell: 0.03,
  risk_score: 0.2,
  inference_time_ms: 12.5,
  model_version: "v1.4.2",
  timestamp: 1_700_000_000_000,
  ...overrides,
})
