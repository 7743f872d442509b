import { Cause, Duration, Effect, Mailbox, Metric, MetricLabel, Option, type Tracer } from "effect"
import { preview } from "../../domain/Limits.js"
import type { EnrichedTrade } from "../../domain/Enrichment.js"
import type { SymbolPipeline } from "../../domain/SymbolPipeline.js"
import type { Watermark } from "../../domain/Watermark.js"
import { defectText } from "../../layers/Logging.js"
import * as Metrics from "../../layers/Metrics.js"
import type { Candle } from "../../schema/Candle.js"
import type { ExchangeId, Quote, Trade } from "../../schema/Market.js"

/** Trades between `fromTs` and `toTs` (+∞ while an outage lasts) are missing; `key` names the gap until it closes. */
export interface GapNotice {
  readonly _tag: "Gap"
  readonly key: string
  readonly fromTs: number
  readonly toTs: number
}

/**
 * Trades fetched from the exchange's history for the gap `key`. They take the live trades' path (validation,
 * dedupe by id, amending final candles); the gap closes only when every one of them could be taken, so a candle
 * never claims to be complete while a trade of it was refused.
 */
export interface BackfillNotice {
  readonly _tag: "Backfill"
  readonly key: string
  readonly trades: ReadonlyArray<Trade>
  /** False while more pages of this gap are still to come. */
  readonly last: boolean
}

/**
 * The feed's watermark may have moved past a candle boundary: wake up and finalise, even without a trade of your
 * own. It leads every batch a feed delivers, carrying the batch's span, so that what the batch causes here (a
 * candle's finalisation, ticks) is traced as its child.
 */
export interface WatermarkNotice {
  readonly _tag: "Watermark"
  readonly span: Tracer.AnySpan | undefined
}

export type AggregatorMessage = Trade | Quote | GapNotice | BackfillNotice | WatermarkNotice

/** Where an aggregator's results go; each call may suspend, which is how back-pressure reaches the feed. */
export interface AggregatorOutputs {
  readonly candles: (candles: ReadonlyArray<Candle>) => Effect.Effect<void>
  /** Absent while no sink consumes ticks, so none are built. */
  readonly ticks?: (ticks: ReadonlyArray<TradeTick>) => Effect.Effect<void>
}

/** A tick as the sinks receive it; the trade's id is its natural key downstream. */
export type TradeTick = EnrichedTrade

export interface AggregatorSpec {
  readonly exchange: ExchangeId
  readonly symbol: string
  /** Owned by the caller so that a restarted actor carries on with the candles it had open. */
  readonly pipeline: SymbolPipeline
  readonly watermark: Watermark
  readonly mailbox: Mailbox.ReadonlyMailbox<AggregatorMessage>
  readonly outputs: AggregatorOutputs
}

/**
 * The clock-driven actor around one exchange+symbol's pure SymbolPipeline. It drains its mailbox in batches and,
 * between batches, sleeps until the feed's watermark reaches the next candle's close + grace, so candles become
 * final on time even when no trade arrives. When the mailbox ends (shutdown) it finalises what is due and hands on
 * snapshots of the still-open candles, so a restart loses nothing it had seen.
 */
export const runAggregator = (spec: AggregatorSpec) =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const pipeline = spec.pipeline
    const counters = statsCounters({ exchange: spec.exchange, symbol: spec.symbol })
    const aggregateDuration = Metric.tagged(
      Metric.tagged(Metrics.processingDuration, "stage", "aggregate"),
      "exchange",
      spec.exchange,
    )
    const candles: Array<Candle> = []
    const ticks: Array<TradeTick> = []
    /** The span of the feed batch taken last: what the next flush is traced under. */
    let origin: Tracer.AnySpan | undefined
    /** Gaps some of whose backfilled trades were refused (too old to amend): they stay open. */
    const unfillable = new Set<string>()

    const finalise = (out: ReadonlyArray<Candle>) =>
      spec.outputs.candles(out).pipe(
        Effect.withSpan("Aggregator.finalise", {
          parent: origin,
          captureStackTrace: false,
          attributes: {
            exchange: spec.exchange,
            symbol: spec.symbol,
            candles: out.length,
            timeframes: [...new Set(out.map((c) => c.timeframe))].join(","),
            revisions: out.filter((c) => c.revision > 0).length,
            open_time: out[0]!.openTime,
          },
        }),
      )

    const flush = Effect.suspend(() => {
      const out = candles.splice(0)
      const outTicks = ticks.splice(0)
      const effect = Effect.all(
        [
          out.length > 0 ? finalise(out) : Effect.void,
          outTicks.length > 0 && spec.outputs.ticks !== undefined ? spec.outputs.ticks(outTicks) : Effect.void,
          recordStats(pipeline, out, counters),
        ],
        { discard: true },
      )
      return origin === undefined ? effect : Effect.withParentSpan(effect, origin)
    })

    const advance = Effect.suspend(() => {
      pipeline.advance(spec.watermark.at(clock.unsafeCurrentTimeMillis()), candles)
      return flush
    })

    while (true) {
      yield* advance
      const wait = spec.watermark.started
        ? pipeline.aggregator.nextDeadline() - spec.watermark.at(clock.unsafeCurrentTimeMillis())
        : Number.POSITIVE_INFINITY
      // A timeout races two fibers; under load the mailbox is rarely empty, and then there is nothing to wait for.
      const ready = Option.getOrElse(spec.mailbox.unsafeSize(), () => 0) > 0
      const taken =
        wait === Number.POSITIVE_INFINITY || ready
          ? yield* spec.mailbox.takeAll
          : yield* Effect.timeoutTo(spec.mailbox.takeAll, {
              duration: Duration.millis(Math.max(1, wait)),
              onTimeout: () => undefined,
              onSuccess: (x) => x,
            })
      if (taken === undefined) continue
      const [messages, done] = taken
      const now = clock.unsafeCurrentTimeMillis()
      const started = clock.unsafeCurrentTimeNanos()
      /** Trades whose handling threw: a bug they exposed, set aside one by one rather than crashing the actor. */
      const defects: Array<{ readonly trade: Trade; readonly error: unknown }> = []
      const trade = (t: Trade) => {
        try {
          const tick = pipeline.onTrade(t, now)
          if (tick !== undefined && spec.outputs.ticks !== undefined) ticks.push(tick)
          return tick !== undefined || pipeline.lastOutcome === "duplicate"
        } catch (error) {
          defects.push({ trade: t, error })
          return false
        }
      }
      for (const m of messages) {
        switch (m._tag) {
          case "Trade":
            trade(m)
            break
          case "Quote":
            pipeline.onQuote(m)
            break
          case "Gap":
            pipeline.aggregator.openGap(m.key, m)
            break
          case "Backfill": {
            let refused = 0
            for (const t of m.trades) if (!trade(t)) refused++
            if (refused > 0) {
              unfillable.add(m.key)
              yield* Effect.logWarning(
                `backfill of gap ${m.key}: ${refused} of ${m.trades.length} trade(s) refused (invalid or older than CANDLE_AMEND_HORIZON_MS); its candles stay incomplete`,
              )
            }
            if (m.last && !unfillable.delete(m.key)) pipeline.aggregator.closeGap(m.key)
            break
          }
          case "Watermark":
            if (m.span !== undefined) origin = m.span
            break
        }
      }
      if (defects.length > 0) {
        const { trade: t, error } = defects[0]!
        yield* Metric.incrementBy(counters.rejected("defect"), defects.length)
        yield* Effect.logError(
          `${defects.length} trade(s) exposed a defect and were set aside, the first ${preview(t)}: ${defectText(error)}`,
          Cause.die(error),
        )
      }
      yield* Metric.update(aggregateDuration, Duration.nanos(clock.unsafeCurrentTimeNanos() - started))
      if (done) {
        yield* advance
        pipeline.aggregator.snapshotOpen(candles)
        yield* flush
        return
      }
    }
  }).pipe(Effect.annotateLogs({ exchange: spec.exchange, symbol: spec.symbol }))

/**
 * The aggregator's counters, tagged once: a tagged metric is a new key whose hash is computed on every update, and
 * an aggregator updates them on every flush.
 */
const statsCounters = (tags: Record<string, string>) => {
  const labels = Object.entries(tags).map(([k, v]) => MetricLabel.make(k, v))
  const tagged = (m: Metric.Metric.Counter<number>) => Metric.taggedWithLabels(m, labels)
  const discarded = (reason: string) => Metric.tagged(tagged(Metrics.tradesDiscarded), "reason", reason)
  const rejected = new Map<string, Metric.Metric.Counter<number>>()
  return {
    received: tagged(Metrics.tradesReceived),
    late: tagged(Metrics.lateTrades),
    jumps: tagged(Metrics.priceJumps),
    duplicate: discarded("duplicate"),
    tooLate: discarded("too_late"),
    rejected: (reason: string) => {
      let m = rejected.get(reason)
      if (m === undefined) rejected.set(reason, (m = discarded(reason)))
      return m
    },
    emitted: tagged(Metrics.candlesEmitted),
    revisions: tagged(Metrics.candleRevisions),
  }
}

const recordStats = (
  pipeline: SymbolPipeline,
  emitted: ReadonlyArray<Candle>,
  counters: ReturnType<typeof statsCounters>,
) =>
  Effect.suspend(() => {
    const s = pipeline.takeStats()
    const effects: Array<Effect.Effect<void>> = []
    const add = (m: Metric.Metric.Counter<number>, n: number) => {
      if (n > 0) effects.push(Metric.incrementBy(m, n))
    }
    add(counters.received, s.accepted + s.late)
    add(counters.late, s.late)
    add(counters.jumps, s.jumps)
    add(counters.duplicate, s.duplicate)
    add(counters.tooLate, s.tooLate)
    for (const [reason, n] of Object.entries(s.rejected)) add(counters.rejected(reason), n)
    add(counters.emitted, emitted.length)
    let revisions = 0
    for (const c of emitted) if (c.revision > 0) revisions++
    add(counters.revisions, revisions)
    return effects.length === 0
      ? Effect.void
      : Effect.all(effects, { discard: true }).pipe(
          Effect.tap(() =>
            s.tooLate + s.duplicate + Object.keys(s.rejected).length > 0
              ? Effect.logDebug("trades discarded", { duplicate: s.duplicate, tooLate: s.tooLate, ...s.rejected })
              : Effect.void,
          ),
        )
  })

export const makeAggregatorMailbox = (capacity: number) =>
  Mailbox.make<AggregatorMessage>({ capacity, strategy: "suspend" })
