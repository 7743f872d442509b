import { MAX_ID_JUMP } from "./Limits.js"

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
 * Watches per-symbol trade ids on venues that number trades contiguously (Binance, Coinbase, Kraken v2, OKX).
 * State survives a reconnect on purpose: trades missed while disconnected are exactly the gap to report, and
 * trades a new connection repeats (a subscribe snapshot, a rotation overlap) are recognised as duplicates.
 */
export class GapDetector {
  private readonly newest = new Map<string, { id: number; ts: number }>()

  /** `maxJump`: more ids skipped than this is a corrupt id, refused unrecorded (Limits.MAX_ID_JUMP). */
  constructor(private readonly maxJump: number = MAX_ID_JUMP) {}

  /**
   * Records a trade record spanning ids `firstId..lastId` (one id, or an aggregated record's fills). Returns the gap
   * before it, "duplicate" when every id in it was seen already, "implausible" (not recorded) when it skips more
   * than `maxJump` ids, or undefined.
   */
  observe(
    symbol: string,
    firstId: number,
    lastId: number,
    ts: number,
  ): TradeGap | "duplicate" | "implausible" | undefined {
    const prev = this.newest.get(symbol)
    if (prev === undefined) {
      this.newest.set(symbol, { id: lastId, ts })
      return undefined
    }
    if (lastId <= prev.id) return "duplicate"
    if (firstId - prev.id - 1 > this.maxJump) return "implausible"
    const gap =
      firstId > prev.id + 1
        ? { symbol, firstMissing: prev.id + 1, lastMissing: firstId - 1, fromTs: prev.ts, toTs: ts }
        : undefined
    prev.id = lastId
    prev.ts = ts
    return gap
  }

  /** The newest id recorded for `symbol`, and its trade time. */
  last(symbol: string): { readonly id: number; readonly ts: number } | undefined {
    return this.newest.get(symbol)
  }

  /**
   * Moves the symbol's newest id forward without reporting a gap: ids filled by backfill, or, after a restart,
   * the last id stored, so that the first live trade reveals what the downtime missed.
   */
  advance(symbol: string, id: number, ts: number): void {
    const prev = this.newest.get(symbol)
    if (prev === undefined) this.newest.set(symbol, { id, ts })
    else if (id > prev.id) {
      prev.id = id
      prev.ts = ts
    }
  }
}
