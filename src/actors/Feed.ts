import { Array as Arr, Clock, Duration, Effect, ExecutionStrategy, Exit, Metric, Option, Schedule, Scope } from "effect"
import { ActivityMonitor } from "../domain/ActivityMonitor.js"
import { GapDetector } from "../domain/GapDetector.js"
import { feedReconnectSchedule } from "../domain/Schedules.js"
import { SymbolMap } from "../domain/SymbolMap.js"
import { type Decoder, type Venue, withLimits } from "../exchanges/Venue.js"
import { AppConfig, type FeedConfig } from "../layers/AppConfig.js"
import { Health } from "../layers/Health.js"
import * as Metrics from "../layers/Metrics.js"
import { WeightBudget } from "../domain/WeightBudget.js"
import { Aggregators } from "./Aggregators.js"
import { makeBackfill } from "./Backfill.js"
import { makeFrameDefects } from "./FrameDefects.js"
import { makeFrameRouter } from "./FrameRouter.js"
import { makeReconciler } from "./Reconciler.js"
import { FeedError, type FeedSocket, open } from "./FeedSocket.js"

/** Exchanges reject frames above about 1 MiB anyway; anything larger is a broken or hostile peer. */
const MAX_PAYLOAD = 1 << 20
/** A symbol may be silent this long at most before it is reported quiet, however illiquid it has been. */
const MAX_QUIET_MS = 24 * 3_600_000
/** A batch that waits this long for room downstream means the daemon, not the exchange, is what is slow. */
const BLOCKED_GRACE_MS = 1_000

/** Splits symbols into groups of at most `size`, one connection each. */
export const shardSymbols = <A>(symbols: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> =>
  Arr.chunksOf(symbols, size)

interface Connection {
  readonly socket: FeedSocket
  readonly scope: Scope.CloseableScope
  readonly decode: Decoder
  readonly openedAt: number
}

/**
 * The feed actor, one per exchange, parameterised by the exchange's Venue module. Symbols beyond one
 * connection's limit are split across connections. Each connection is watched twice over: liveness (a ping must
 * be answered) and data staleness (no trade or quote for longer than the connection's own rate makes usual), and
 * is replaced, before a venue's forced disconnect, by an overlapping new one. Reconnects back off, forever: an
 * unreachable exchange is a state to wait out, not a crash.
 */
export const runFeed = (venue: Venue, feed: FeedConfig) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const port = (yield* Aggregators).port(venue.exchange)
    const exchange = venue.exchange
    const symbols = new SymbolMap(feed.symbols, venue.instrument, venue.aliases)
    const url = venue.endpoint(feed.wsUrl)
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
            amendHorizonMs: config.candleAmendHorizonMs,
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
      graceMs: config.candleGraceMs,
      activity: quiet,
      defect: makeFrameDefects(exchange, config.dataDir),
    })
    /**
     * What a dropped connection may have missed, fetched from REST: from each symbol's newest trade on, or, for a
     * symbol that has not traded yet, from `lostAt` (exchange time), when the connection went.
     */
    const catchUp = (shard: ReadonlyArray<string>, lostAt: number) =>
      backfill === undefined
        ? Effect.void
        : Effect.forEach(shard, (s) => backfill.catchUp(s, lostAt), { discard: true })
    /** The feed's event time now, less the grace a late trade may take: where an outage starting now begins. */
    const eventTimeNow = Effect.map(Clock.currentTimeMillis, (now) =>
      port.watermark.started ? port.watermark.at(now) - config.candleGraceMs : now,
    )
    if (backfill !== undefined && detector !== undefined)
      for (const [symbol, r] of port.resume) {
        detector.advance(symbol, r.lastTradeId, r.fromTs)
        yield* backfill.catchUp(symbol, r.fromTs)
      }
    const shards = shardSymbols(feed.symbols, venue.symbolsPerConnection)
    const rotateAfterMs =
      venue.maxConnectionMs === undefined
        ? undefined
        : Option.match(config.rotateAfter, {
            onNone: () => venue.maxConnectionMs! - 15 * 60_000,
            onSome: Duration.toMillis,
          })

    const runShard = (shard: ReadonlyArray<string>, index: number) =>
      Effect.gen(function* () {
        const name = shards.length === 1 ? `feed:${exchange}` : `feed:${exchange}#${index + 1}`
        const subscriptions = venue.subscribe(shard.map(venue.instrument), feed.settings)
        const data = new ActivityMonitor(["data"], startedAt, staleMs, 10 * staleMs)
        let endedStale = false
        let connectedOnce = false
        /** Set while a connection is up: its loss is an outage whose trades are then fetched from REST. */
        let up = false
        /** When (exchange time) the last connection was lost. */
        let lostAt = 0
        /** Connection attempts failed in a row; from FEED_POLL_AFTER_FAILURES on, REST polling stands in. */
        let failures = 0

        const connect = (parent: Scope.Scope) =>
          Effect.gen(function* () {
            const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
            return yield* Effect.gen(function* () {
              const socket = yield* open({
                exchange,
                url,
                maxPayload: MAX_PAYLOAD,
                highWaterMark: config.mailboxCapacity,
                lowWaterMark: Math.floor(config.mailboxCapacity / 4),
                pingInterval: config.pingInterval,
                pongTimeout: config.pongTimeout,
                ...(venue.ping === undefined ? {} : { ping: venue.ping }),
              }).pipe(Scope.extend(scope))
              yield* health
                .watchMailbox(`${name}:socket`, { unsafeSize: socket.buffered }, config.mailboxCapacity)
                .pipe(Scope.extend(scope))
              for (const message of subscriptions) {
                yield* socket.send(message)
                yield* Effect.sleep(Duration.millis(venue.controlIntervalMs))
              }
              const openedAt = yield* Clock.currentTimeMillis
              return {
                socket,
                scope,
                decode: withLimits(venue.decoder(symbols), config.tradeFutureToleranceMs),
                openedAt,
              } satisfies Connection
            }).pipe(Effect.tapErrorCause(() => Scope.close(scope, Exit.void)))
          })

        /** Set while a batch waits for room downstream: the sinks, not the exchange, are what is slow then. */
        let blockedSince: number | undefined

        /** Reads frames until the server announces a shutdown (returned) or the connection fails. */
        const consume = (c: Connection, untilShutdown: boolean) =>
          Effect.gen(function* () {
            while (true) {
              const frames = yield* c.socket.take
              blockedSince = yield* Clock.currentTimeMillis
              const r = yield* route(frames, c.decode).pipe(
                Effect.ensuring(Effect.sync(() => (blockedSince = undefined))),
              )
              if (r.data > 0) data.observe("data", yield* Clock.currentTimeMillis)
              if (untilShutdown && r.shutdown !== undefined) return `server notice: ${r.shutdown}`
            }
          })

        const staleness = (c: Connection) =>
          Effect.gen(function* () {
            while (true) {
              const now = yield* Clock.currentTimeMillis
              // Back-pressure (a paused socket, a batch waiting on a full mailbox) is not silence: the exchange is
              // being held back by us, so the silence is counted from when we take data again.
              if (c.socket.isPaused() || (blockedSince !== undefined && now - blockedSince >= BLOCKED_GRACE_MS))
                data.restart(now, false)
              const silent = data.check(now)[0]
              if (silent !== undefined)
                return yield* new FeedError({
                  exchange,
                  op: "stale",
                  reason: `no trade or quote for ${Duration.format(Duration.millis(silent.silentMs))} (limit ${Duration.format(Duration.millis(silent.limitMs))})`,
                })
              yield* Effect.sleep(Duration.millis(Math.max(1, data.nextCheckAt() - now)))
            }
          })

        const ageLimit = (c: Connection) =>
          rotateAfterMs === undefined
            ? Effect.never
            : Effect.flatMap(Clock.currentTimeMillis, (now) =>
                Effect.as(
                  Effect.sleep(Duration.millis(Math.max(0, c.openedAt + rotateAfterMs - now))),
                  `connection age ${Duration.format(Duration.millis(rotateAfterMs))}`,
                ),
              )

        /**
         * One connection after another without a gap: when a rotation is due, the next connection subscribes
         * while the current one is still read; its frames wait in its own buffer (or in the kernel once that is
         * full) until the current one is closed and drained, so trades come in order and the repeats of the
         * overlap are recognised by id.
         */
        const session = Effect.scoped(
          Effect.gen(function* () {
            const parent = yield* Effect.scope
            yield* health.set(name, "connecting", url)
            let current = yield* connect(parent)
            data.restart(current.openedAt, endedStale)
            endedStale = false
            failures = 0
            if (connectedOnce) yield* catchUp(shard, lostAt)
            connectedOnce = true
            up = true
            yield* health.set(name, "connected", url)
            yield* Effect.logInfo(`${exchange}: connected to ${url} with ${shard.length} symbol(s)`)
            while (true) {
              // raceFirst, not raceAll: the first to end decides, failures included.
              const why = yield* consume(current, true).pipe(
                Effect.raceFirst(current.socket.liveness),
                Effect.raceFirst(staleness(current)),
                Effect.raceFirst(ageLimit(current)),
              )
              yield* Effect.logInfo(`${exchange}: replacing the connection (${why}); overlapping the new one`)
              const next = yield* connect(parent)
              yield* Effect.raceFirst(consume(current, false), Effect.sleep(config.rotationOverlap)).pipe(
                Effect.catchAll(() => Effect.void),
              )
              yield* Scope.close(current.scope, Exit.void)
              yield* consume(current, false).pipe(Effect.catchAll(() => Effect.void))
              current = next
              data.restart(current.openedAt, false)
              yield* Metric.increment(Metric.tagged(Metrics.rotations, "exchange", exchange))
            }
          }),
        )

        // A connection that stayed up for FEED_HEALTHY_AFTER_MS ends "successfully", so the retry below starts its
        // backoff afresh instead of continuing from where an earlier bad patch left it.
        const attempt = Effect.gen(function* () {
          const started = yield* Clock.currentTimeMillis
          return yield* session.pipe(
            Effect.tapError(() =>
              Effect.gen(function* () {
                if (!up) return
                up = false
                lostAt = yield* eventTimeNow
                yield* catchUp(shard, lostAt)
              }),
            ),
            Effect.catchAll((e: FeedError) => {
              endedStale = e.op === "stale"
              return Effect.flatMap(Clock.currentTimeMillis, (now) =>
                now - started >= Duration.toMillis(config.healthyAfter)
                  ? Effect.zipRight(
                      Metric.increment(reconnectsBy(e)),
                      Effect.logWarning(
                        `${exchange}: connection lost after ${Duration.format(Duration.millis(now - started))} (${e.reason}); reconnecting`,
                      ),
                    )
                  : Effect.fail(e),
              )
            }),
          )
        })

        const reconnectsBy = (e: FeedError) =>
          Metric.tagged(Metric.tagged(Metrics.reconnects, "exchange", exchange), "reason", e.op)

        const backoff = feedReconnectSchedule(config).pipe(
          Schedule.tapInput((e: FeedError) =>
            Effect.all([
              health.set(name, "backoff", e.message),
              Metric.increment(reconnectsBy(e)),
              Effect.sync(() => failures++),
            ]),
          ),
          Schedule.tapOutput((delay) =>
            Effect.logWarning(
              `${exchange}: ${url} unavailable; reconnecting in ${Duration.format(Duration.millis(Math.round(Duration.toMillis(delay))))}`,
            ),
          ),
        )
        /** While the WebSocket cannot be reached, trades are fetched over REST at REST_POLL_INTERVAL_MS. */
        const poller = Effect.gen(function* () {
          if (backfill === undefined) return
          let polling = false
          while (true) {
            yield* Effect.sleep(config.backfill.pollInterval)
            const on = failures >= config.backfill.pollAfterFailures
            if (on !== polling) {
              polling = on
              yield* backfill.setPolling(shard, on)
              yield* on
                ? Effect.logWarning(
                    `${exchange}: ${failures} connection attempts failed; polling REST trades every ${Duration.format(config.backfill.pollInterval)} until the WebSocket is back`,
                  )
                : Effect.logInfo(`${exchange}: WebSocket back; REST polling stopped`)
            }
            if (on) yield* Effect.forEach(shard, backfill.poll, { discard: true })
          }
        })
        const reconnecting = Effect.forever(
          attempt.pipe(
            Effect.tapError((e) => Effect.logWarning(`${exchange}: ${e.message}`)),
            Effect.retry(backoff),
          ),
        )
        return yield* Effect.all([reconnecting, poller], { concurrency: "unbounded", discard: true })
      })

    const reportQuiet = Effect.gen(function* () {
      while (true) {
        const now = yield* Clock.currentTimeMillis
        for (const t of quiet.check(now)) {
          yield* Metric.increment(
            Metric.tagged(Metric.tagged(Metrics.quietSymbols, "exchange", exchange), "symbol", t.key),
          )
          yield* Effect.logWarning(
            `${exchange} ${t.key}: no trade for ${Duration.format(Duration.millis(t.silentMs))}, longer than its usual pace allows (${Duration.format(Duration.millis(t.limitMs))}); the connection is fine, the market may be quiet`,
          )
        }
        // Woken at least every FEED_STALE_MS: a symbol that trades again makes its next deadline finite.
        yield* Effect.sleep(Duration.millis(Math.min(staleMs, Math.max(1_000, quiet.nextCheckAt() - now))))
      }
    })

    yield* Effect.all(
      [
        reportQuiet,
        ...(backfill === undefined ? [] : [backfill.run]),
        ...(reconciler === undefined ? [] : [reconciler]),
        ...shards.map(runShard),
      ],
      { concurrency: "unbounded", discard: true },
    )
  }).pipe(Effect.annotateLogs("exchange", venue.exchange))
