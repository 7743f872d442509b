/**
 * Remembers which trade ids a symbol has already counted, for as long as a trade could still be amended into a
 * candle. Exchanges with numeric, contiguous ids (Binance, Coinbase, OKX, Kraken) are held as id ranges, so the
 * usual in-order stream costs one comparison per trade whatever the rate; other ids (Bybit's UUIDs) use a set.
 */
export class SeenTrades {
  /** Disjoint, sorted, non-adjacent [lo, hi] id ranges with the trade time of `hi`. */
  private readonly ranges: Array<{ lo: number; hi: number; hiTs: number }> = []
  private readonly textIds = new Map<string, number>()

  /** Records the trade (its numeric `seq` where ≥ 0, else its text id); false when it was seen before. */
  add(seq: number, tradeId: string, ts: number): boolean {
    const id = seq
    if (id < 0) {
      if (this.textIds.has(tradeId)) return false
      this.textIds.set(tradeId, ts)
      return true
    }
    const rs = this.ranges
    const last = rs[rs.length - 1]
    if (last !== undefined && id === last.hi + 1) {
      last.hi = id
      last.hiTs = Math.max(last.hiTs, ts)
      return true
    }
    if (last === undefined || id > last.hi + 1) {
      rs.push({ lo: id, hi: id, hiTs: ts })
      return true
    }
    // Out of order: find the first range whose hi is at or after id.
    let lo = 0
    let hi = rs.length - 1
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (rs[mid]!.hi < id) lo = mid + 1
      else hi = mid
    }
    const r = rs[lo]!
    if (id >= r.lo) return false
    const prev = lo > 0 ? rs[lo - 1] : undefined
    if (id === r.lo - 1) {
      r.lo = id
      if (prev !== undefined && prev.hi === id - 1) {
        r.lo = prev.lo
        rs.splice(lo - 1, 1)
      }
    } else if (prev !== undefined && prev.hi === id - 1) {
      prev.hi = id
      prev.hiTs = Math.max(prev.hiTs, ts)
    } else rs.splice(lo, 0, { lo: id, hi: id, hiTs: ts })
    return true
  }

  /** Forgets ids of trades older than `cutoffTs`; the newest range always stays, to catch replays of it. */
  evictBefore(cutoffTs: number): void {
    let n = 0
    while (n < this.ranges.length - 1 && this.ranges[n]!.hiTs < cutoffTs) n++
    if (n > 0) this.ranges.splice(0, n)
    for (const [id, ts] of this.textIds) {
      if (ts >= cutoffTs) break
      this.textIds.delete(id)
    }
  }
}
