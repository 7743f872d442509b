import type { Candle } from "../../schema/Candle.js"
import { Clock, Duration, Effect, Fiber, type Mailbox, Option } from "effect"
import { DueCandles } from "../../domain/Reconciliation.js"
import { SymbolPipeline } from "../../domain/SymbolPipeline.js"
import { SymbolStats } from "../../domain/SymbolStats.js"
import { Watermark } from "../../domain/Watermark.js"
import { VENUES } from "../../exchanges/registry.js"
import { AppConfig, pipelineOptions } from "../../layers/AppConfig.js"
import { CandleStore } from "../../layers/CandleStore.js"
import { Health } from "../../layers/Health.js"
import { longestPeriodMs } from "../../schema/Candle.js"
import type { ExchangeId } from "../../schema/Market.js"
import { StartupHistory } from "../history/StartupHistory.js"
import { Sinks } from "../Sinks.js"
import { Supervisor } from "../Supervisor.js"
import { type AggregatorMessage, makeAggregatorMailbox, runAggregator } from "./Aggregator.js"
import { type FeedPort, type ResumePoint, storedProgress } from "./FeedPort.js"
import { aggregatorOutputs } from "./Outputs.js"
import { resumeSymbol } from "./Resume.js"

/**
 * Spawns one supervised aggregator actor per ingested exchange+symbol (`attach`), resumed from the store (`Resume.ts`) and
 * writing to every sink (`Outputs.ts`), and hands each feed its port (`FeedPort.ts`): the symbols' routes, the
 * watermark and the status. On shutdown (after the feeds stopped) each mailbox is ended and its actor drains it,
 * finalises what is due and snapshots the rest before the sinks close.
 */
export class Aggregators extends Effect.Service<Aggregators>()("ingestd/Aggregators", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    const health = yield* Health
    const store = yield* CandleStore
    // A first start with HISTORY_DAYS stores the history first: the aggregators then resume from it.
    yield* StartupHistory
    const { sinks } = yield* Sinks
    const ports = new Map<ExchangeId, FeedPort>()
    const pipelines = new Map<string, SymbolPipeline>()
    // Messages carry the trace context of the span that produced them (see Aggregator), read once per batch.
    const outputs = aggregatorOutputs(sinks, (cs) => {
      // Not a sink that can be full: a map insert per final 1m candle, bounded by DueCandles itself.
      for (const c of cs) ports.get(c.exchange)?.due?.offer(c)
    })
    const options = pipelineOptions(config)
    const startedAt = yield* Clock.currentTimeMillis
    const longestPeriod = longestPeriodMs(config.timeframes)
    // Alone, a daemon ingests every configured symbol for its whole life; in a shared fleet the feeds attach the
    // symbols this member holds leases for, as ownership moves.
    const shared = Option.exists(config.fleet, (f) => f.mode === "shared")
    const routesOf = new Map<ExchangeId, Map<string, Mailbox.Mailbox<AggregatorMessage>>>()
    const resumeOf = new Map<ExchangeId, Map<string, ResumePoint>>()
    for (const feed of config.feeds) {
      const exchange = feed.exchange
      const routes = new Map<string, Mailbox.Mailbox<AggregatorMessage>>()
      const resume = new Map<string, ResumePoint>()
      routesOf.set(exchange, routes)
      resumeOf.set(exchange, resume)
      const reconciled =
        VENUES[exchange].candles !== undefined && Duration.toMillis(config.backfill.reconcileInterval) > 0
      ports.set(exchange, {
        watermark: new Watermark(),
        routes,
        stats: new SymbolStats(shared ? [] : feed.symbols, startedAt),
        resume,
        progress: storedProgress(store, exchange),
        due: reconciled ? new DueCandles() : undefined,
      })
    }

    /**
     * Runs an aggregator for each of `symbols` of one exchange for as long as the caller's scope: each resumed from
     * the store as it stands now, which is how a fleet member takes over a symbol another member wrote until a
     * moment ago. Closing the scope ends each mailbox; its actor drains it, finalises what is due and snapshots the
     * rest into the sinks.
     */
    const attach = (exchange: ExchangeId, symbols: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const routes = routesOf.get(exchange)!
        const resume = resumeOf.get(exchange)!
        const { watermark, stats } = ports.get(exchange)!
        stats.own(symbols, yield* Clock.currentTimeMillis)
        for (const symbol of symbols) {
          const key = `${exchange}:${symbol}`
          const pipeline = new SymbolPipeline(exchange, symbol, options)
          const point = yield* resumeSymbol(store, exchange, symbol, pipeline, longestPeriod)
          const mailbox = yield* makeAggregatorMailbox(config.mailboxCapacity)
          yield* health.watchMailbox(`aggregator:${key}`, mailbox, config.mailboxCapacity)
          const fiber = yield* supervisor.spawn(
            `aggregator:${key}`,
            runAggregator({ exchange, symbol, pipeline, watermark, mailbox, outputs }),
          )
          pipelines.set(key, pipeline)
          routes.set(symbol, mailbox)
          if (point === undefined) resume.delete(symbol)
          else resume.set(symbol, point)
          yield* Effect.addFinalizer(() =>
            mailbox.end.pipe(
              Effect.zipRight(Fiber.await(fiber)),
              Effect.timeout(config.shutdownTimeout),
              Effect.catchAll(() =>
                Effect.logError(`aggregator ${exchange} ${symbol} did not drain within ${config.shutdownTimeout}`),
              ),
              Effect.ensuring(
                Effect.zipRight(
                  Effect.sync(() => {
                    pipelines.delete(key)
                    routes.delete(symbol)
                    resume.delete(symbol)
                  }),
                  // A drained actor reports "stopped", which is not ready: gone, it reports nothing.
                  shared ? health.forget(`aggregator:${key}`) : Effect.void,
                ),
              ),
            ),
          )
        }
        yield* Effect.addFinalizer(() => Effect.sync(() => stats.disown(symbols)))
      })

    if (!shared) for (const feed of config.feeds) yield* attach(feed.exchange, feed.symbols)

    const port = (exchange: ExchangeId): FeedPort => {
      const p = ports.get(exchange)
      if (p === undefined) throw new Error(`no aggregators for ${exchange}`)
      return p
    }
    /** Snapshots of a symbol's candles still open, every timeframe: what the live page shows as they move. */
    const openCandles = (exchange: string, symbol: string): ReadonlyArray<Candle> => {
      const out: Array<Candle> = []
      pipelines.get(`${exchange}:${symbol}`)?.aggregator.snapshotOpen(out)
      return out
    }
    return { port, ports: ports as ReadonlyMap<ExchangeId, FeedPort>, openCandles, attach } as const
  }),
}) {}
