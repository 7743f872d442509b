import { Clock, Effect, Fiber, type Mailbox } from "effect"
import { SymbolStats } from "../domain/SymbolStats.js"
import { SymbolPipeline } from "../domain/SymbolPipeline.js"
import { Watermark } from "../domain/Watermark.js"
import { AppConfig } from "../layers/AppConfig.js"
import { Health } from "../layers/Health.js"
import type { ExchangeId } from "../schema/Market.js"
import { candleLine, tickLine } from "../domain/LineProtocol.js"
import type { Candle } from "../schema/Candle.js"
import {
  type AggregatorMessage,
  type AggregatorOutputs,
  makeAggregatorMailbox,
  runAggregator,
  type TradeTick,
} from "./Aggregator.js"
import { CandleWriter } from "./CandleWriter.js"
import { InfluxWriter } from "./InfluxWriter.js"
import { candleMessage, Publisher, tickMessage } from "./Publisher.js"
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
}

/** Hands a batch to every sink in turn, with the `traceparent` of the span it was produced under. */
export const fanOut =
  <A>(sinks: ReadonlyArray<(xs: ReadonlyArray<A>, traceparent: string | undefined) => Effect.Effect<void>>) =>
  (xs: ReadonlyArray<A>) =>
    Effect.flatMap(currentTraceparent, (tp) => Effect.forEach(sinks, (sink) => sink(xs, tp), { discard: true }))

/**
 * One supervised aggregator actor per configured exchange+symbol, feeding every configured sink in turn (a sink
 * that is full suspends the aggregator, and so the feed). On shutdown (after the feeds stopped) each
 * mailbox is ended and its actor drains it, finalises what is due and snapshots the rest before the writer closes.
 */
export class Aggregators extends Effect.Service<Aggregators>()("ingestd/Aggregators", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    const health = yield* Health
    const writer = yield* CandleWriter
    const publisher = yield* Publisher
    const influx = (yield* InfluxWriter).sink
    // With CANDLE_SINK=queue the candles reach PostgreSQL through market.ohlcv and its consumer instead.
    // Messages carry the trace context of the span that produced them (see Aggregator), read once per batch.
    const candleSinks: Array<(cs: ReadonlyArray<Candle>, traceparent: string | undefined) => Effect.Effect<void>> = [
      ...(config.candleSink === "direct" ? [writer.offer] : []),
      ...(publisher.enabled
        ? [(cs: ReadonlyArray<Candle>, tp: string | undefined) => publisher.offer(cs.map((c) => candleMessage(c, tp)))]
        : []),
      ...(influx ? [(cs: ReadonlyArray<Candle>) => influx.offer(cs.map(candleLine))] : []),
    ]
    const tickSinks: Array<(ts: ReadonlyArray<TradeTick>, traceparent: string | undefined) => Effect.Effect<void>> = [
      ...(publisher.enabled
        ? [(ts: ReadonlyArray<TradeTick>, tp: string | undefined) => publisher.offer(ts.map((t) => tickMessage(t, tp)))]
        : []),
      ...(influx ? [(ts: ReadonlyArray<TradeTick>) => influx.offer(ts.map((t) => tickLine(t.tick, t.tradeId)))] : []),
    ]
    const outputs: AggregatorOutputs = {
      candles: fanOut(candleSinks),
      ...(tickSinks.length > 0 ? { ticks: fanOut(tickSinks) } : {}),
    }
    const ports = new Map<ExchangeId, FeedPort>()
    const options = {
      timeframes: config.timeframes,
      graceMs: config.candleGraceMs,
      emptyCandles: config.candleEmpty,
      amendHorizonMs: config.candleAmendHorizonMs,
      futureToleranceMs: config.tradeFutureToleranceMs,
    }
    const startedAt = yield* Clock.currentTimeMillis
    for (const feed of config.feeds) {
      const watermark = new Watermark()
      const routes = new Map<string, Mailbox.Mailbox<AggregatorMessage>>()
      for (const symbol of feed.symbols) {
        const mailbox = yield* makeAggregatorMailbox(config.mailboxCapacity)
        yield* health.watchMailbox(`aggregator:${feed.exchange}:${symbol}`, mailbox, config.mailboxCapacity)
        routes.set(symbol, mailbox)
        const fiber = yield* supervisor.spawn(
          `aggregator:${feed.exchange}:${symbol}`,
          runAggregator({
            exchange: feed.exchange,
            symbol,
            pipeline: new SymbolPipeline(feed.exchange, symbol, options),
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
      ports.set(feed.exchange, { watermark, routes, stats: new SymbolStats(feed.symbols, startedAt) })
    }
    const port = (exchange: ExchangeId): FeedPort => {
      const p = ports.get(exchange)
      if (p === undefined) throw new Error(`no aggregators for ${exchange}`)
      return p
    }
    return { port, ports: ports as ReadonlyMap<ExchangeId, FeedPort> } as const
  }),
}) {}
