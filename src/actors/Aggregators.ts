import { Effect, Fiber, type Mailbox } from "effect"
import { SymbolPipeline } from "../domain/SymbolPipeline.js"
import { Watermark } from "../domain/Watermark.js"
import { AppConfig } from "../layers/AppConfig.js"
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

/** What a feed needs from the aggregation stage: its event-time watermark and a mailbox per subscribed symbol. */
export interface FeedPort {
  readonly watermark: Watermark
  readonly routes: ReadonlyMap<string, Mailbox.Mailbox<AggregatorMessage>>
}

/**
 * One supervised aggregator actor per configured exchange+symbol, feeding every configured sink in turn (a sink
 * that is full suspends the aggregator, and so the feed). On shutdown (after the feeds stopped) each
 * mailbox is ended and its actor drains it, finalises what is due and snapshots the rest before the writer closes.
 */
export class Aggregators extends Effect.Service<Aggregators>()("ingestd/Aggregators", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    const writer = yield* CandleWriter
    const publisher = yield* Publisher
    const influx = (yield* InfluxWriter).sink
    // With CANDLE_SINK=queue the candles reach PostgreSQL through market.ohlcv and its consumer instead.
    const candleSinks = [
      ...(config.candleSink === "direct" ? [writer.offer] : []),
      ...(publisher.enabled ? [(cs: ReadonlyArray<Candle>) => publisher.offer(cs.map(candleMessage))] : []),
      ...(influx ? [(cs: ReadonlyArray<Candle>) => influx.offer(cs.map(candleLine))] : []),
    ]
    const tickSinks = [
      ...(publisher.enabled ? [(ts: ReadonlyArray<TradeTick>) => publisher.offer(ts.map(tickMessage))] : []),
      ...(influx ? [(ts: ReadonlyArray<TradeTick>) => influx.offer(ts.map((t) => tickLine(t.tick, t.tradeId)))] : []),
    ]
    const outputs: AggregatorOutputs = {
      candles: (cs) => Effect.forEach(candleSinks, (sink) => sink(cs), { discard: true }),
      ...(tickSinks.length > 0
        ? { ticks: (ts) => Effect.forEach(tickSinks, (sink) => sink(ts), { discard: true }) }
        : {}),
    }
    const ports = new Map<ExchangeId, FeedPort>()
    const options = {
      timeframes: config.timeframes,
      graceMs: config.candleGraceMs,
      emptyCandles: config.candleEmpty,
      amendHorizonMs: config.candleAmendHorizonMs,
      futureToleranceMs: config.tradeFutureToleranceMs,
    }
    for (const feed of config.feeds) {
      const watermark = new Watermark()
      const routes = new Map<string, Mailbox.Mailbox<AggregatorMessage>>()
      for (const symbol of feed.symbols) {
        const mailbox = yield* makeAggregatorMailbox(config.mailboxCapacity)
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
      ports.set(feed.exchange, { watermark, routes })
    }
    const port = (exchange: ExchangeId): FeedPort => {
      const p = ports.get(exchange)
      if (p === undefined) throw new Error(`no aggregators for ${exchange}`)
      return p
    }
    return { port } as const
  }),
}) {}
