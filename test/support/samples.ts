import type { TradeTick } from "../../src/actors/aggregation/Aggregator.js"
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

/** The i-th of a series of BTC/USDT ticks, trade id `t<i>`, seen with a 0.2 wide book around 30,000.1. */
export const sampleTick = (i: number): TradeTick => ({
  trade: {
    _tag: "Trade",
    exchange: "binance",
    symbol: "BTC/USDT",
    tradeId: `t${i}`,
    seq: -1,
    price: 30000.1,
    qty: 0.01,
    priceText: "30000.1",
    qtyText: "0.01",
    side: "buy",
    exchangeTs: 1_700_000_000_000 + i,
    recvTs: 1_700_000_000_005 + i,
    count: 1,
  },
  quote: {
    _tag: "Quote",
    exchange: "binance",
    symbol: "BTC/USDT",
    bid: 30000,
    ask: 30000.2,
    bidQty: 1,
    askQty: 2,
    ts: 1_700_000_000_000,
  },
})

/** The i-th sample tick with some of its trade's fields replaced. */
export const sampleTickWith = (i: number, trade: Partial<TradeTick["trade"]>): TradeTick => {
  const t = sampleTick(i)
  return { ...t, trade: { ...t.trade, ...trade } }
}

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

/** A signal as the seed's ML engine publishes it (`MLSignal`: camelCase, nested probabilities, ISO date). */
export const seedSignal = (modelVersion: string) => ({
  symbol: "ETH/USDT",
  signalType: "sell",
  riskLevel: "high",
  confidence: 0.7,
  probabilities: { buy: 0.1, hold: 0.2, sell: 0.7 },
  riskScore: 0.8,
  inferenceTimeMs: 9,
  modelVersion,
  timestamp: "2023-11-14T22:15:00.000Z",
})

/** The `ml_signals` point a `seedSignal` becomes, on a daemon whose exchange is binance: every field. */
export const seedSignalPoint = (modelVersion: string) => ({
  time: "2023-11-14T22:15:00Z",
  exchange: "binance",
  symbol: "ETH_USDT",
  signal: "sell",
  risk_level: "high",
  confidence: 0.7,
  prob_buy: 0.1,
  prob_hold: 0.2,
  prob_sell: 0.7,
  risk_score: 0.8,
  inference_time_ms: 9,
  model_version: modelVersion,
})
