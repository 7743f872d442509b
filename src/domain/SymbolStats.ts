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
  /** Gaps not yet backfilled, and since when the oldest of them has been open. */
  unfilledGaps: number
  unfilledSince: number | undefined
  /** What the backfill of this symbol is doing, and why it last failed. */
  backfill: "idle" | "filling" | "retrying"
  backfillError: string | undefined
  backfilledTrades: number
  mode: IngestionMode
  /** Final 1m candles compared with the exchange's own, how many differed, and the newest difference. */
  reconciled: number
  mismatched: number
  lastReconciledMinute: number | undefined
  lastMismatch: { readonly minute: number; readonly fields: ReadonlyArray<string> } | undefined
}

/** How trades reach us: the `ingestion_mode` of `ingestion_status`. */
export type IngestionMode = "websocket" | "polling" | "backfill"

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
        unfilledGaps: 0,
        unfilledSince: undefined,
        backfill: "idle",
        backfillError: undefined,
        backfilledTrades: 0,
        mode: "websocket",
        reconciled: 0,
        mismatched: 0,
        lastReconciledMinute: undefined,
        lastMismatch: undefined,
      })
  }

  /** Counts a live trade; true when it is the symbol's first since start. */
  trade(symbol: string, recvTs: number, exchangeTs: number): boolean {
    const s = this.stats.get(symbol)
    if (s === undefined) return false
    s.trades++
    s.lastTradeAt = recvTs
    s.lastExchangeTs = exchangeTs
    return s.trades === 1
  }

  gap(symbol: string, missing: number, at: number): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    s.gaps++
    s.missingTrades += missing
    s.lastGapAt = at
  }

  /** A gap awaits backfill (a trade-id gap, an outage, a restart's downtime). */
  openGap(symbol: string, at: number): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    if (s.unfilledGaps++ === 0) s.unfilledSince = at
  }

  /** `count` gaps were filled, or can no longer be. */
  closeGaps(symbol: string, count: number): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    s.unfilledGaps = Math.max(0, s.unfilledGaps - count)
    if (s.unfilledGaps === 0) s.unfilledSince = undefined
  }

  /** The symbol's entry, for the actors that own its backfill and reconciliation fields. */
  of(symbol: string): SymbolStat | undefined {
    return this.stats.get(symbol)
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
