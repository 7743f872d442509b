/** What one exchange+symbol has delivered, for /api/status and the data-quality alerts. */
export interface SymbolStat {
  readonly symbol: string
  /** When this daemon began ingesting the symbol: its start, or in a fleet when it took the symbol's lease. */
  readonly since: number
  /** Local receive time of the newest trade, and its exchange time. */
  readonly lastTradeAt: number | undefined
  readonly lastExchangeTs: number | undefined
  readonly trades: number
  /** Trades per second, averaged over about a minute (updated by `sample`). */
  readonly ratePerSec: number
  readonly gaps: number
  readonly missingTrades: number
  readonly lastGapAt: number | undefined
  /** Gaps not yet backfilled, and since when the oldest of them has been open. */
  readonly unfilledGaps: number
  readonly unfilledSince: number | undefined
  /** What the backfill of this symbol is doing, and why it last failed. */
  readonly backfill: "idle" | "filling" | "retrying"
  readonly backfillError: string | undefined
  readonly backfilledTrades: number
  readonly mode: IngestionMode
  /** Final 1m candles compared with the exchange's own, how many differed, and the newest difference. */
  readonly reconciled: number
  readonly mismatched: number
  readonly lastReconciledMinute: number | undefined
  readonly lastMismatch: { readonly minute: number; readonly fields: ReadonlyArray<string> } | undefined
}

/** How trades reach us: the `ingestion_mode` of `ingestion_status`. */
export type IngestionMode = "websocket" | "polling" | "backfill"

type Entry = { -readonly [K in keyof SymbolStat]: SymbolStat[K] }

/** The window of the moving average behind `ratePerSec`. */
const RATE_WINDOW_MS = 60_000

/**
 * Per-symbol status of one feed. Its methods say what happened and are the only writers: the frame router (trades
 * and gaps, on the hot path: field updates only), the backfill (gaps filled, mode, failures), the reconciler
 * (comparisons) and the alerts actor (rate samples). The status API and the alerts read `all()`.
 */
export class SymbolStats {
  private readonly stats = new Map<string, Entry>()
  private readonly sampled = new Map<string, number>()
  private sampledAt: number

  constructor(
    symbols: ReadonlyArray<string>,
    /** When the feed started: a symbol that never traded has been silent since then. */
    readonly startedAt: number,
  ) {
    this.sampledAt = startedAt
    this.own(symbols, startedAt)
  }

  /** Starts reporting symbols this daemon now ingests; those it already reports keep their figures. */
  own(symbols: ReadonlyArray<string>, now: number): void {
    for (const symbol of symbols)
      if (!this.stats.has(symbol))
        this.stats.set(symbol, {
          symbol,
          since: now,
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

  /** Stops reporting symbols another fleet member ingests now. */
  disown(symbols: ReadonlyArray<string>): void {
    for (const symbol of symbols) {
      this.stats.delete(symbol)
      this.sampled.delete(symbol)
    }
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

  /** How the symbol's trades arrive now. */
  modeChanged(symbol: string, mode: IngestionMode): void {
    const s = this.stats.get(symbol)
    if (s !== undefined) s.mode = mode
  }

  /** The backfill of the symbol's gaps began. */
  filling(symbol: string): void {
    const s = this.stats.get(symbol)
    if (s !== undefined) s.backfill = "filling"
  }

  /** A REST request of the symbol's backfill failed: `retrying` when it is tried again, idle when given up. */
  backfillFailed(symbol: string, error: string, retrying: boolean): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    s.backfill = retrying ? "retrying" : "idle"
    s.backfillError = error
  }

  /** The symbol's backfill fetched `trades` trades and is done. */
  backfilled(symbol: string, trades: number): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    s.backfill = "idle"
    s.backfillError = undefined
    s.backfilledTrades += trades
  }

  /** The final 1m candle of `minute` was compared with the exchange's; `fields` differed (none: a match). */
  reconciled(symbol: string, minute: number, fields: ReadonlyArray<string>): void {
    const s = this.stats.get(symbol)
    if (s === undefined) return
    s.reconciled++
    s.lastReconciledMinute = Math.max(s.lastReconciledMinute ?? minute, minute)
    if (fields.length === 0) return
    s.mismatched++
    s.lastMismatch = { minute, fields }
  }

  /** One symbol's status. */
  of(symbol: string): Readonly<SymbolStat> | undefined {
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

  all(): ReadonlyArray<SymbolStat> {
    return [...this.stats.values()]
  }
}
