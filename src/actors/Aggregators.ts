import { Clock, Duration, Effect, Fiber, type Mailbox, Metric } from "effect"
import { isoOrNumber } from "../domain/Limits.js"
import { DueCandles } from "../domain/Reconciliation.js"
import { VENUES } from "../exchanges/registry.js"
import { type IngestionMode, SymbolStats } from "../domain/SymbolStats.js"
import { SymbolPipeline } from "../domain/SymbolPipeline.js"
import { Watermark } from "../domain/Watermark.js"
import { AppConfig } from "../layers/AppConfig.js"
import { Health } from "../layers/Health.js"
import * as Metrics from "../layers/Metrics.js"
import type { ExchangeId } from "../schema/Market.js"
import { type Candle, periodMs } from "../schema/Candle.js"
import { CandleStore } from "../layers/CandleStore.js"
import { seqOf } from "../exchanges/Venue.js"
import {
  type AggregatorMessage,
  type AggregatorOutputs,
  makeAggregatorMailbox,
  runAggregator,
  type TradeTick,
} from "./Aggregator.js"
import { Sinks } from "./Sinks.js"
import { Supervisor } from "./Supervisor.js"
import { currentTraceparent } from "../layers/Tracing.js"

/**
 * What a feed needs from the aggregation stage: its event-time watermark, a mailbox per subscribed symbol, and the
 * per-symbol counters it keeps for the status API and the alerts.
 */
export interface FeedPort {
  readonly watermark: Watermark
  readonly routes: ReadonlyMap<string, Mailbox.Mailbox<AggregatorMessage>>
  readonly stats: SymbolStats
  /** Per symbol, where a previous run stopped: the last trade id stored and the time trades after it start. */
  readonly resume: ReadonlyMap<string, { readonly lastTradeId: number; readonly fromTs: number }>
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

/** Hands a batch to every sink in turn, with the `traceparent` of the span it was produced under. */
export const fanOut =
  <A>(sinks: ReadonlyArray<(xs: ReadonlyArray<A>, traceparent: string | undefined) => Effect.Effect<void>>) =>
  (xs: ReadonlyArray<A>) =>
    Effect.flatMap(currentTraceparent, (tp) => Effect.forEach(sinks, (sink) => sink(xs, tp), { discard: true }))

/**
 * One supervised aggregator actor per configured exchange+symbol, feeding every configured sink in turn (a sink
 * whose memory and disk buffers are both full suspends the aggregator, and so the feed). On shutdown (after the feeds stopped) each
 * mailbox is ended and its actor drains it, finalises what is due and snapshots the rest before the writer closes.
 */
export class Aggregators extends Effect.Service<Aggregators>()("ingestd/Aggregators", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    const health = yield* Health
    const store = yield* CandleStore
    const { sinks } = yield* Sinks
    // Messages carry the trace context of the span that produced them (see Aggregator), read once per batch.
    const candleSinks: Array<(cs: ReadonlyArray<Candle>, traceparent: string | undefined) => Effect.Effect<void>> =
      sinks.flatMap((s) => (s.candles === undefined ? [] : [s.candles]))
    const tickSinks: Array<(ts: ReadonlyArray<TradeTick>, traceparent: string | undefined) => Effect.Effect<void>> =
      sinks.flatMap((s) => (s.ticks === undefined ? [] : [s.ticks]))
    const ports = new Map<ExchangeId, FeedPort>()
    // Not a sink that can be full: a map insert per final 1m candle, bounded by DueCandles itself.
    candleSinks.push((cs) =>
      Effect.sync(() => {
        for (const c of cs) ports.get(c.exchange)?.due?.offer(c)
      }),
    )
    const outputs: AggregatorOutputs = {
      candles: fanOut(candleSinks),
      ...(tickSinks.length > 0 ? { ticks: fanOut(tickSinks) } : {}),
    }
    const options = {
      timeframes: config.timeframes,
      graceMs: config.candleGraceMs,
      emptyCandles: config.candleEmpty,
      amendHorizonMs: config.candleAmendHorizonMs,
      futureToleranceMs: config.tradeFutureToleranceMs,
    }
    const startedAt = yield* Clock.currentTimeMillis
    const longestPeriod = Math.max(...config.timeframes.map(periodMs))
    for (const feed of config.feeds) {
      const watermark = new Watermark()
      const routes = new Map<string, Mailbox.Mailbox<AggregatorMessage>>()
      const resume = new Map<string, { lastTradeId: number; fromTs: number }>()
      for (const symbol of feed.symbols) {
        const pipeline = new SymbolPipeline(feed.exchange, symbol, options)
        const point = yield* store
          .resumePoint(feed.exchange, symbol, longestPeriod)
          .pipe(
            Effect.catchAll((e) =>
              Effect.as(
                Effect.logWarning(
                  `${feed.exchange} ${symbol}: could not read where the last run stopped (${e.message}); starting afresh`,
                ),
                undefined,
              ),
            ),
          )
        const lastTradeId = point === undefined ? -1 : seqOf(point.lastTradeId)
        if (point !== undefined && lastTradeId >= 0) {
          const unreadable = pipeline.aggregator.restore(point.minutes)
          if (unreadable.length > 0) {
            yield* Metric.incrementBy(
              Metric.tagged(Metric.tagged(Metrics.unreadableCandles, "exchange", feed.exchange), "symbol", symbol),
              unreadable.length,
            )
            yield* Effect.logWarning(
              `${feed.exchange} ${symbol}: ${unreadable.length} stored 1m candle(s) could not be read (a price, volume or trade count that is not one), first at ${isoOrNumber(unreadable[0]!)}; skipped, and the higher timeframes' candles they belong to are marked incomplete. Check those rows in ohlcv_candles.`,
            )
          }
          resume.set(symbol, { lastTradeId, fromTs: point.lastFinal + 60_000 })
          yield* Effect.logInfo(
            `${feed.exchange} ${symbol}: resuming after trade ${point.lastTradeId} (final candles up to ${isoOrNumber(point.lastFinal)})`,
          )
        }
        const mailbox = yield* makeAggregatorMailbox(config.mailboxCapacity)
        yield* health.watchMailbox(`aggregator:${feed.exchange}:${symbol}`, mailbox, config.mailboxCapacity)
        routes.set(symbol, mailbox)
        const fiber = yield* supervisor.spawn(
          `aggregator:${feed.exchange}:${symbol}`,
          runAggregator({
            exchange: feed.exchange,
            symbol,
            pipeline,
            watermark,
            mailbox,
            outputs,
          }),
        )
        yield* Effect.addFinalizer(() =>
          mailbox.end.pipe(
            Effect.zipRight(Fiber.await(fiber)),
            Effect.timeout(config.shutdownTimeout),
            Effect.catchAll(() =>
              Effect.logError(`aggregator ${feed.exchange} ${symbol} did not drain within ${config.shutdownTimeout}`),
            ),
          ),
        )
      }
      const exchange = feed.exchange
      // Progress is bookkeeping: a store that cannot take it is logged, and ingestion goes on.
      const noted = (symbol: string, table: string) => (e: { readonly message: string }) =>
        Effect.logWarning(`${exchange} ${symbol}: ${table} not updated: ${e.message}`)
      const progress: IngestionProgress = {
        setMode: (symbol, mode, error) =>
          Effect.catchAll(store.setMode(exchange, symbol, mode, error), noted(symbol, "ingestion_status")),
        recordFill: (symbol, trades) =>
          Effect.catchAll(store.recordFill(exchange, symbol, trades), noted(symbol, "ingestion_metrics")),
        start: (symbol, afterId, minute) =>
          Effect.catchAll(store.markStart(exchange, symbol, afterId, minute), noted(symbol, "ingestion_status")),
      }
      const reconciled =
        VENUES[exchange].candles !== undefined && Duration.toMillis(config.backfill.reconcileInterval) > 0
      ports.set(exchange, {
        watermark,
        routes,
        stats: new SymbolStats(feed.symbols, startedAt),
        resume,
        progress,
        due: reconciled ? new DueCandles() : undefined,
      })
    }
    const port = (exchange: ExchangeId): FeedPort => {
      const p = ports.get(exchange)
      if (p === undefined) throw new Error(`no aggregators for ${exchange}`)
      return p
    }
    return { port, ports: ports as ReadonlyMap<ExchangeId, FeedPort> } as const
  }),
}) {}
