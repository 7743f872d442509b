import { Array as Arr, Clock, Duration, Effect, Option } from "effect"
import { ActivityMonitor } from "../../domain/ActivityMonitor.js"
import { GapDetector } from "../../domain/GapDetector.js"
import { SymbolMap } from "../../domain/SymbolMap.js"
import { WeightBudget } from "../../domain/WeightBudget.js"
import type { Venue } from "../../exchanges/Venue.js"
import { AppConfig, type FeedConfig, pipelineOptions } from "../../layers/AppConfig.js"
import { Health } from "../../layers/Health.js"
import { longestPeriodMs } from "../../schema/Candle.js"
import { Aggregators } from "../aggregation/Aggregators.js"
import { makeBackfill } from "./Backfill.js"
import type { FeedSetup } from "./FeedSetup.js"
import { makeFrameDefects } from "./FrameDefects.js"
import { makeFrameRouter } from "./FrameRouter.js"
import { reportQuiet } from "./QuietSymbols.js"
import { makeReconciler } from "./Reconciler.js"
import { runShard } from "./Shard.js"

/** A symbol may be silent this long at most before it is reported quiet, however illiquid it has been. */
const MAX_QUIET_MS = 24 * 3_600_000

/**
 * The feed actor, one per exchange, parameterised by the exchange's Venue module. It builds the parts every
 * connection shares (routing, backfill, reconciliation, quiet-symbol reports) and runs one shard per connection's
 * worth of symbols (`Shard.ts`). Each connection is watched twice over: liveness (a ping must be answered) and
 * data staleness (`Watchdogs.ts`), and is replaced, before a venue's forced disconnect, by an overlapping new one
 * (`Session.ts`).
 */
export const runFeed = (venue: Venue, feed: FeedConfig) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const port = (yield* Aggregators).port(venue.exchange)
    const exchange = venue.exchange
    const staleMs = Duration.toMillis(config.staleAfter)
    const startedAt = yield* Clock.currentTimeMillis
    const quiet = new ActivityMonitor(feed.symbols, startedAt, staleMs, MAX_QUIET_MS)
    const detector = venue.idSpan === undefined ? undefined : new GapDetector()
    const history = venue.history?.(feed.settings)
    // One rate limit per exchange: the backfill and the reconciler spend from the same budget and back off together.
    const rest = {
      baseUrl: feed.restUrl,
      budget: new WeightBudget(feed.restWeightPerMinute, 60_000),
      timeout: config.backfill.restTimeout,
    }
    const backfill =
      detector === undefined || history === undefined
        ? undefined
        : yield* makeBackfill({
            exchange,
            port,
            detector,
            history,
            instrument: venue.instrument,
            rest,
            retryInterval: config.backfill.retryInterval,
            repairHorizonMs: pipelineOptions(config).repairHorizonMs,
          })
    const reconciler =
      port.due === undefined || venue.candles === undefined
        ? undefined
        : makeReconciler({
            exchange,
            port,
            due: port.due,
            candles: venue.candles,
            instrument: venue.instrument,
            rest,
            interval: config.backfill.reconcileInterval,
          })
    const route = makeFrameRouter({
      exchange,
      port,
      gaps: detector === undefined ? undefined : { detector, span: venue.idSpan! },
      backfill,
      historyReachesBack: venue.historyReachesBack === true,
      graceMs: config.candleGraceMs,
      longestPeriodMs: longestPeriodMs(config.timeframes),
      activity: quiet,
      defect: makeFrameDefects(exchange, config.dataDir),
    })
    if (backfill !== undefined && detector !== undefined)
      for (const [symbol, r] of port.resume) {
        detector.advance(symbol, r.lastTradeId, r.fromTs)
        yield* backfill.catchUp(symbol, r.fromTs)
      }
    const setup: FeedSetup = {
      exchange,
      venue,
      feed,
      config,
      health,
      url: venue.endpoint(feed.wsUrl),
      symbols: new SymbolMap(feed.symbols, venue.instrument, venue.aliases),
      staleMs,
      startedAt,
      route,
      backfill,
      eventTimeNow: Effect.map(Clock.currentTimeMillis, (now) =>
        port.watermark.started ? port.watermark.at(now) - config.candleGraceMs : now,
      ),
      rotateAfterMs:
        venue.maxConnectionMs === undefined
          ? undefined
          : Option.match(config.rotateAfter, {
              onNone: () => venue.maxConnectionMs! - 15 * 60_000,
              onSome: Duration.toMillis,
            }),
    }
    // One connection per group of at most as many symbols as the venue allows on one.
    const shards = Arr.chunksOf(feed.symbols, venue.symbolsPerConnection)
    yield* Effect.all(
      [
        reportQuiet(setup, quiet),
        ...(backfill === undefined ? [] : [backfill.run]),
        ...(reconciler === undefined ? [] : [reconciler]),
        ...shards.map((shard, i) =>
          runShard(setup, shard, shards.length === 1 ? `feed:${exchange}` : `feed:${exchange}#${i + 1}`),
        ),
      ],
      { concurrency: "unbounded", discard: true },
    )
  }).pipe(Effect.annotateLogs("exchange", venue.exchange))
