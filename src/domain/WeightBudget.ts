/**
 * An exchange's REST rate limit as a budget of request weight per rolling window (Binance: 6,000 per minute;
 * others count requests, weight 1 each). A request may go only when its weight fits in what the window has left
 * and no back-off the server asked for (429/418 with Retry-After) is running. Pure: the caller supplies the time.
 */
export class WeightBudget {
  private readonly spent: Array<{ readonly at: number; readonly weight: number }> = []
  private used = 0
  private blockedUntil = Number.NEGATIVE_INFINITY

  constructor(
    readonly limit: number,
    readonly windowMs: number,
  ) {
    if (!(limit > 0)) throw new Error(`a weight budget needs a positive limit, got ${limit}`)
  }

  private expire(now: number): void {
    while (this.spent.length > 0 && this.spent[0]!.at + this.windowMs <= now) this.used -= this.spent.shift()!.weight
  }

  /**
   * Spends `weight` at `now` and returns 0 when it fits; otherwise spends nothing and returns how long to wait
   * before asking again. A request heavier than the whole limit is clamped to it, so it waits for an empty window
   * instead of forever.
   */
  take(weight: number, now: number): number {
    if (now < this.blockedUntil) return this.blockedUntil - now
    this.expire(now)
    const w = Math.min(weight, this.limit)
    if (this.used + w > this.limit) {
      let freed = this.used
      for (const s of this.spent) {
        freed -= s.weight
        if (freed + w <= this.limit) return s.at + this.windowMs - now
      }
    }
    this.spent.push({ at: now, weight: w })
    this.used += w
    return 0
  }

  /** The server asked for a pause (Retry-After): nothing goes before `until`. */
  backOff(until: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, until)
  }

  /** Weight spent in the window as of `now`. */
  usedAt(now: number): number {
    this.expire(now)
    return this.used
  }
}
