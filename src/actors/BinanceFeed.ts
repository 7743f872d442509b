import { Clock, Duration, Effect, type Mailbox, Metric, Schedule } from "effect"
import { makeParser } from "../domain/BinanceFrames.js"
import { GapDetector, type TradeGap } from "../domain/GapDetector.js"
import { binanceInstrument, SymbolMap } from "../domain/SymbolMap.js"
import { AppConfig, type AppConfigShape, type FeedConfig } from "../layers/AppConfig.js"
import { Health } from "../layers/Health.js"
import * as Metrics from "../layers/Metrics.js"
import type { TradeStream } from "../schema/Binance.js"
import { bucketStart } from "../schema/Candle.js"
import type { AggregatorMessage } from "./Aggregator.js"
import { Aggregators, type FeedPort } from "./Aggregators.js"
import { type FeedError, type InboundFrame, open } from "./FeedSocket.js"

const MINUTE = 60_000
/** Binance accepts 5 control messages per second per connection; stay below it. */
const SUBSCRIBE_PACE = Duration.millis(250)
const STREAMS_PER_MESSAGE = 100
/** Binance rejects frames above 1 MiB anyway; anything larger is a broken or hostile peer. */
const MAX_PAYLOAD = 1 << 20

export const streamNames = (symbols: ReadonlyArray<string>, tradeStream: TradeStream): ReadonlyArray<string> =>
  symbols.flatMap((s) => {
    const name = binanceInstrument(s).toLowerCase()
    return [`${name}@${tradeStream}`, `${name}@bookTicker`]
  })

export const subscribeMessages = (streams: ReadonlyArray<string>): ReadonlyArray<string> => {
  const messages: Array<string> = []
  for (let i = 0; i < streams.length; i += STREAMS_PER_MESSAGE)
    messages.push(
      JSON.stringify({
        method: "SUBSCRIBE",
        params: streams.slice(i, i + STREAMS_PER_MESSAGE),
        id: messages.length + 1,
      }),
    )
  return messages
}

/** The combined-stream endpoint, whose frames name their stream; BINANCE_WS_URL may give the host or the full path. */
export const combinedStreamUrl = (base: string): string =>
  /\/stream\/?$/.test(base) ? base : `${base.replace(/\/+$/, "")}/stream`

/** Reconnect backoff: exponential from FEED_RECONNECT_BASE_MS, capped at FEED_RECONNECT_MAX_MS, jittered. */
export const feedReconnectSchedule = (config: Pick<AppConfigShape, "reconnectBase" | "reconnectMax">) =>
  Schedule.exponential(config.reconnectBase, 2).pipe(
    Schedule.union(Schedule.spaced(config.reconnectMax)),
    Schedule.jittered,
    Schedule.delays,
  )

/**
 * The Binance feed actor: one combined-stream connection for the configured symbols. It parses frames, detects
 * trade-id gaps, routes messages to the aggregators (suspending when they are full, which pauses the socket),
 * advances the feed's watermark and reconnects with backoff, forever: an unreachable exchange is a state to wait
 * out, not a crash.
 */
export const runBinanceFeed = (feed: FeedConfig) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const port = (yield* Aggregators).port("binance")
    const parse = makeParser(new SymbolMap(feed.symbols, binanceInstrument))
    const gaps = new GapDetector()
    const streams = streamNames(feed.symbols, config.binanceTradeStream)
    const url = combinedStreamUrl(feed.wsUrl)
    const name = "feed:binance"
    const handle = makeBatchHandler(port, gaps, parse, config.candleGraceMs)

    const session = Effect.scoped(
      Effect.gen(function* () {
        yield* health.set(name, "connecting", url)
        const socket = yield* open({
          exchange: "binance",
          url,
          maxPayload: MAX_PAYLOAD,
          highWaterMark: config.mailboxCapacity,
          lowWaterMark: Math.floor(config.mailboxCapacity / 4),
          pingInterval: config.pingInterval,
          pongTimeout: config.pongTimeout,
          staleAfter: config.staleAfter,
        })
        for (const message of subscribeMessages(streams)) {
          yield* socket.send(message)
          yield* Effect.sleep(SUBSCRIBE_PACE)
        }
        yield* health.set(name, "connected", url)
        yield* Effect.logInfo(`binance: connected to ${url}, subscribed to ${streams.length} streams`)
        const consume = Effect.forever(Effect.flatMap(socket.take, handle))
        return yield* Effect.raceFirst(consume, socket.watchdogs)
      }),
    )

    // A connection that stayed up for FEED_HEALTHY_AFTER_MS ends "successfully", so the retry below starts its
    // backoff afresh instead of continuing from where an earlier bad patch left it.
    const attempt = Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      return yield* session.pipe(
        Effect.catchAll((e: FeedError) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now - started >= Duration.toMillis(config.healthyAfter)
              ? Effect.logWarning(
                  `binance: connection lost after ${Duration.format(Duration.millis(now - started))} (${e.reason}); reconnecting`,
                )
              : Effect.fail(e),
          ),
        ),
      )
    })

    const backoff = feedReconnectSchedule(config).pipe(
      Schedule.tapInput((e: FeedError) =>
        Effect.all([
          health.set(name, "backoff", e.message),
          Metric.increment(Metric.tagged(Metrics.reconnects, "exchange", "binance")),
        ]),
      ),
      Schedule.tapOutput((delay) =>
        Effect.logWarning(
          `binance: ${url} unavailable; reconnecting in ${Duration.format(Duration.millis(Math.round(Duration.toMillis(delay))))}`,
        ),
      ),
    )
    return yield* Effect.forever(
      attempt.pipe(
        Effect.tapError((e) => Effect.logWarning(`binance: ${e.message}`)),
        Effect.retry(backoff),
      ),
    )
  }).pipe(Effect.annotateLogs("exchange", "binance"))

/**
 * Turns a batch of frames into aggregator messages: one offerAll per symbol per batch rather than one per trade.
 * The watermark moves only after the batch is offered, so an aggregator never finalises a candle while a trade
 * for it still sits in this batch.
 */
const makeBatchHandler = (port: FeedPort, gaps: GapDetector, parse: ReturnType<typeof makeParser>, graceMs: number) => {
  let notifiedBucket = Number.NEGATIVE_INFINITY
  const exchangeTag = <T, I, O>(m: Metric.Metric<T, I, O>) => Metric.tagged(m, "exchange", "binance")

  return (frames: ReadonlyArray<InboundFrame>) =>
    Effect.suspend(() => {
      const outboxes = new Map<Mailbox.Mailbox<AggregatorMessage>, Array<AggregatorMessage>>()
      const push = (symbol: string, m: AggregatorMessage) => {
        const mailbox = port.routes.get(symbol)!
        const box = outboxes.get(mailbox)
        if (box === undefined) outboxes.set(mailbox, [m])
        else box.push(m)
      }
      const found: Array<TradeGap> = []
      const rejected = new Map<string, number>()
      const ignored = new Map<string, number>()
      const notes: Array<Effect.Effect<void>> = []
      let eventTs = Number.NaN
      let arrivalTs = Number.NaN
      for (const f of frames) {
        const r = parse(f.raw, f.recvTs)
        switch (r._tag) {
          case "Trade": {
            const gap = gaps.observe(r.symbol, r.seq, r.exchangeTs)
            if (gap !== undefined) {
              found.push(gap)
              push(r.symbol, { _tag: "Gap", fromTs: gap.fromTs, toTs: gap.toTs })
            }
            push(r.symbol, r)
            if (!(r.exchangeTs - f.recvTs <= eventTs - arrivalTs)) {
              eventTs = r.exchangeTs
              arrivalTs = f.recvTs
            }
            break
          }
          case "Quote":
            push(r.symbol, r)
            break
          case "Control":
            break
          case "ServerError":
            notes.push(Effect.logWarning(`binance refused a request: ${r.message}`))
            break
          case "Ignored":
            ignored.set(r.reason, (ignored.get(r.reason) ?? 0) + 1)
            break
          case "Invalid":
            rejected.set(r.reason, (rejected.get(r.reason) ?? 0) + 1)
            notes.push(Effect.logDebug(`binance: dropped ${r.reason} frame: ${r.detail}`))
            break
        }
      }
      return Effect.gen(function* () {
        for (const [mailbox, messages] of outboxes) yield* mailbox.offerAll(messages)
        if (!Number.isNaN(eventTs)) port.watermark.observe(eventTs, arrivalTs)
        if (port.watermark.started) {
          const now = yield* Clock.currentTimeMillis
          const due = bucketStart(port.watermark.at(now) - graceMs - MINUTE + 1, MINUTE)
          if (due > notifiedBucket) {
            notifiedBucket = due
            for (const mailbox of port.routes.values())
              if (!outboxes.has(mailbox)) yield* mailbox.offer({ _tag: "Watermark" })
          }
        }
        yield* Metric.incrementBy(exchangeTag(Metrics.framesReceived), frames.length)
        for (const [reason, n] of rejected)
          yield* Metric.incrementBy(Metric.tagged(exchangeTag(Metrics.framesRejected), "reason", reason), n)
        for (const [reason, n] of ignored)
          yield* Metric.incrementBy(Metric.tagged(exchangeTag(Metrics.framesIgnored), "reason", reason), n)
        for (const gap of found) {
          const missing = gap.lastMissing - gap.firstMissing + 1
          yield* Metric.increment(Metric.tagged(exchangeTag(Metrics.gapsDetected), "symbol", gap.symbol))
          yield* Metric.incrementBy(Metric.tagged(exchangeTag(Metrics.gapTrades), "symbol", gap.symbol), missing)
          yield* Effect.logWarning(
            `binance ${gap.symbol}: ${missing} trade(s) missing (ids ${gap.firstMissing}..${gap.lastMissing}) between ${new Date(gap.fromTs).toISOString()} and ${new Date(gap.toTs).toISOString()}; candles in that range marked incomplete`,
          )
        }
        for (const note of notes) yield* note
      })
    })
}
