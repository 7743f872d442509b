/** What one exchange+symbol has delivered, for /api/status and the data-quality alerts. */
export interface SymbolStat {
  readonly symbol: string
  /** Local receive time of the newest trade, and its exchange time. */
  lastTradeAt: number | undefined
  lastExchangeTs: number | undefined
  trades: number
  /** Trades per second, averaged over about a minute (updated by `sample`). */
  ratePerSec: number
  gaps: number
  missingTrades: number
  lastGapAt: number | undefined
}

/** The window of the moving average behind `ratePerSec`. */
const RATE_WINDOW_MS = 60_000

/**
 * Per-symbol counters of one feed, written by its frame router on the hot path (field updates only) and read by
 * the status API and the alerts actor, which also samples the trade rate.
 */
export class SymbolStats {
  private readonly stats = new Map<string, SymbolStat>()
  private readonly sampled = new Map<string, number>()
  private sampledAt: number

  constructor(
    symbols: ReadonlyArray<string>,
    /** When the feed started: a symbol that never traded has been silent since then. */
    readonly startedAt: number,
  ) {
    this.sampledAt = startedAt
    for (const symbol of symbols)
      this.stats.set(symbol, {
        symbol,
        lastTradeAt: undefined,
        lastExchangeTs: undefined,
        trades: 0,
        ratePerSec: 0,
        gaps: 0,
        missingTrades: 0,
        lastGapAt: undefined,
      })
  }

  trade(symbol: string, recvTs: number, exchangeTs: number): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    s.trades++
    s.lastTradeAt = recvTs
    s.lastExchangeTs = exchangeTs
  }

  gap(symbol: string, missing: number, at: number): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    s.gaps++
    s.missingTrades += missing
    s.lastGapAt = at
  }

  /** Folds the trades since the previous sample into each symbol's moving average rate. */
  sample(now: number): void {
    const dt = now - this.sampledAt
    if (dt <= 0) return
    const weight = 1 - Math.exp(-dt / RATE_WINDOW_MS)
    for (const s of this.stats.values()) {
      const rate = ((s.trades - (this.sampled.get(s.symbol) ?? 0)) * 1_000) / dt
      s.ratePerSec += weight * (rate - s.ratePerSec)
      this.sampled.set(s.symbol, s.trades)
    }
    this.sampledAt = now
  }

  all(): ReadonlyArray<Readonly<SymbolStat>> {
    return [...this.stats.values()]
  }
}
