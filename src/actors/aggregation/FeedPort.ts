import { Effect, type Mailbox } from "effect"
import type { DueCandles } from "../../domain/Reconciliation.js"
import type { IngestionMode, SymbolStats } from "../../domain/SymbolStats.js"
import type { Watermark } from "../../domain/Watermark.js"
import type { CandleStore } from "../../layers/CandleStore.js"
import type { ExchangeId } from "../../schema/Market.js"
import type { AggregatorMessage } from "./Aggregator.js"

/** Where a previous run stopped: the last trade id stored and the time trades after it start. */
export interface ResumePoint {
  readonly lastTradeId: number
  readonly fromTs: number
}

/**
 * What a feed needs from the aggregation stage: its event-time watermark, a mailbox per subscribed symbol (the
 * routes), the per-symbol status it reports through, where each symbol resumes, and its bookkeeping in the store.
 */
export interface FeedPort {
  readonly watermark: Watermark
  readonly routes: ReadonlyMap<string, Mailbox.Mailbox<AggregatorMessage>>
  readonly stats: SymbolStats
  readonly resume: ReadonlyMap<string, ResumePoint>
  readonly progress: IngestionProgress
  /** Final complete 1m candles awaiting comparison with the exchange's; undefined when not reconciled. */
  readonly due: DueCandles | undefined
}

/** Where a feed records how its symbols' trades arrive (`ingestion_status`) and what backfill fetched. */
export interface IngestionProgress {
  readonly setMode: (symbol: string, mode: IngestionMode, error?: string) => Effect.Effect<void>
  readonly recordFill: (symbol: string, trades: number) => Effect.Effect<void>
  /**
   * The symbol's first trade ever seen (no earlier progress stored): a restart before its first candle is final
   * resumes from the id before it and the minute it falls in.
   */
  readonly start: (symbol: string, afterId: number, minute: number) => Effect.Effect<void>
}

/** One exchange's progress in the store. It is bookkeeping: a store that cannot take it is logged, ingestion goes on. */
export const storedProgress = (store: CandleStore, exchange: ExchangeId): IngestionProgress => {
  const noted = (symbol: string, table: string) => (e: { readonly message: string }) =>
    Effect.logWarning(`${exchange} ${symbol}: ${table} not updated: ${e.message}`)
  return {
    setMode: (symbol, mode, error) =>
      Effect.catchAll(store.setMode(exchange, symbol, mode, error), noted(symbol, "ingestion_status")),
    recordFill: (symbol, trades) =>
      Effect.catchAll(store.recordFill(exchange, symbol, trades), noted(symbol, "ingestion_metrics")),
    start: (symbol, afterId, minute) =>
      Effect.catchAll(store.markStart(exchange, symbol, afterId, minute), noted(symbol, "ingestion_status")),
  }
}
