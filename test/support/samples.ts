import type { TradeTick } from "../../src/actors/Aggregator.js"
import type { Candle } from "../../src/schema/Candle.js"

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
