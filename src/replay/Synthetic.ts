import type { MarketEvent, SyntheticQuote, SyntheticTrade } from "../exchanges/ReplayProtocol.js"

/**
 * Deterministic synthetic market data for load tests and demonstrations: N symbols, R events per second, trade
 * ids contiguous per symbol, exact decimal prices and sizes. The same spec always yields the same events, so a
 * test can compute the candles it expects from `syntheticTrades(spec)`.
 */
export interface SyntheticSpec {
  /** Unified symbols. */
  readonly symbols: ReadonlyArray<string>
  /** Trades per second over all symbols. */
  readonly rate: number
  /** Trades in all; unbounded when absent. */
  readonly count?: number
  /** Exchange time of the first trade. */
  readonly start: number
  readonly seed?: number
  /** Id of each symbol's first trade. */
  readonly firstId?: number
}

/** mulberry32: small, fast and reproducible. */
const prng = (seed: number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const cents = (n: number) => (n / 100).toFixed(2)

/** Events with their offset from the start in ms; each trade is followed by a quote of its symbol's book. */
export function* synthetic(spec: SyntheticSpec): Generator<{ readonly at: number; readonly event: MarketEvent }> {
  const random = prng(spec.seed ?? 1)
  const state = spec.symbols.map((symbol, i) => ({ symbol, id: spec.firstId ?? 1_000, price: 100_000 + i * 10_000 }))
  for (let n = 0; spec.count === undefined || n < spec.count; n++) {
    const at = Math.floor((n * 1_000) / spec.rate)
    const s = state[Math.floor(random() * state.length)]!
    s.price = Math.max(100, s.price + Math.round((random() - 0.5) * 40))
    const trade: SyntheticTrade = {
      symbol: s.symbol,
      id: s.id++,
      ts: spec.start + at,
      price: cents(s.price),
      qty: (Math.floor(random() * 100_000 + 1) / 100_000).toFixed(5),
      takerBuy: random() < 0.5,
    }
    yield { at, event: { kind: "trade", trade } }
    const quote: SyntheticQuote = {
      symbol: s.symbol,
      ts: trade.ts,
      bid: cents(s.price - 1),
      ask: cents(s.price + 1),
      bidQty: (Math.floor(random() * 1_000) / 100 + 0.01).toFixed(2),
      askQty: (Math.floor(random() * 1_000) / 100 + 0.01).toFixed(2),
    }
    yield { at, event: { kind: "quote", quote } }
  }
}

export const syntheticTrades = (spec: SyntheticSpec & { readonly count: number }): Array<SyntheticTrade> => {
  const out: Array<SyntheticTrade> = []
  for (const { event } of synthetic(spec)) if (event.kind === "trade") out.push(event.trade)
  return out
}
