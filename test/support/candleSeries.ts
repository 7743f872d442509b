import type { IndicatorCandle } from "../../src/domain/indicators/IndicatorSeries.js"

/** A small seeded generator, so a failing series can be regenerated exactly. */
const mulberry32 = (seed: number) => () => {
  let t = (seed += 0x6d2b79f5)
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

/**
 * 1m candles of a random walk around `price`, with calm and wild stretches and stretches where nothing trades (flat
 * candles: high = low = close), which drive RSI's, ADX's and the bands' zero branches.
 */
export const candleSeries = (count: number, price: number, seed: number): Array<IndicatorCandle> => {
  const random = mulberry32(seed)
  const candles: Array<IndicatorCandle> = []
  let close = price
  let volatility = 0.001
  for (let i = 0; i < count; i++) {
    if (i % 97 === 0) volatility = random() < 0.3 ? 0 : 0.0002 + random() * 0.004
    const open = close
    if (volatility === 0) {
      candles.push({ openTime: i * 60_000, high: close, low: close, close })
      continue
    }
    close = open * (1 + (random() - 0.5) * 2 * volatility)
    const high = Math.max(open, close) * (1 + random() * volatility)
    const low = Math.min(open, close) * (1 - random() * volatility)
    candles.push({ openTime: i * 60_000, high, low, close })
  }
  return candles
}
