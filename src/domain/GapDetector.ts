/** Trade ids that should have arrived between two that did. */
export interface TradeGap {
  readonly symbol: string
  /** First and last missing id, inclusive. */
  readonly firstMissing: number
  readonly lastMissing: number
  /** Trade times of the trades either side of the gap. */
  readonly fromTs: number
  readonly toTs: number
}

/**
 * Watches per-symbol trade ids on venues that number trades contiguously (Binance `t`/`a`). State survives a
 * reconnect on purpose: trades missed while disconnected are exactly the gap to report.
 */
export class GapDetector {
  private readonly last = new Map<string, { id: number; ts: number }>()

  observe(symbol: string, id: number, ts: number): TradeGap | undefined {
    const prev = this.last.get(symbol)
    if (prev === undefined) {
      this.last.set(symbol, { id, ts })
      return undefined
    }
    if (id <= prev.id) return undefined
    const gap =
      id > prev.id + 1
        ? { symbol, firstMissing: prev.id + 1, lastMissing: id - 1, fromTs: prev.ts, toTs: ts }
        : undefined
    prev.id = id
    prev.ts = ts
    return gap
  }
}
