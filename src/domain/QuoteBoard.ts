import type { Tick } from "../schema/Market.js"

/**
 * The newest tick per exchange and symbol, waiting for the next publication: a cache's conflation. Taking the board
 * empties it, so each symbol is published at most once per take, with its newest tick; ticks it superseded are
 * never published, which is what conflation means.
 */
export class QuoteBoard {
  private pending = new Map<string, Tick>()

  offer(tick: Tick): void {
    this.pending.set(`${tick.exchange}\u0000${tick.symbol}`, tick)
  }

  get size(): number {
    return this.pending.size
  }

  take(): ReadonlyArray<Tick> {
    const taken = [...this.pending.values()]
    this.pending = new Map()
    return taken
  }

  /** Puts back what a failed publication took, unless a newer tick of its symbol came meanwhile. */
  restore(ticks: ReadonlyArray<Tick>): void {
    for (const t of ticks) {
      const key = `${t.exchange}\u0000${t.symbol}`
      if (!this.pending.has(key)) this.pending.set(key, t)
    }
  }
}

/** The seed's quote hash `{bid, ask, last, volume, timestamp}` (absent book fields as empty strings). */
export const quoteHash = (t: Tick): Record<string, string> => ({
  bid: t.bid === null ? "" : String(t.bid),
  ask: t.ask === null ? "" : String(t.ask),
  last: String(t.last),
  volume: String(t.volume),
  timestamp: String(t.timestamp),
})

/** The `quotes` channel's message. */
export const quoteMessage = (t: Tick): string =>
  JSON.stringify({
    exchange: t.exchange,
    symbol: t.symbol,
    bid: t.bid,
    ask: t.ask,
    last: t.last,
    volume: t.volume,
    mid: t.mid,
    spread_bps: t.spreadBps,
    timestamp: t.timestamp,
  })
