import { Clock, Duration, Effect, ExecutionStrategy, Exit, Scope } from "effect"
import { type Decoder, withLimits } from "../../exchanges/Venue.js"
import type { FeedSetup } from "./FeedSetup.js"
import { type FeedSocket, open } from "./Socket.js"

/** Exchanges reject frames above about 1 MiB anyway; anything larger is a broken or hostile peer. */
const MAX_PAYLOAD = 1 << 20

/**
 * Without waits, batches grow with the rate, as frames arrive while the last batch is processed: about 60 frames at
 * 10,000 trades/s, a few at 1,000. From this size on, the feed is busy enough for `FEED_BATCH_MS` to pay.
 */
const BUSY_FRAMES = 32

/** One open, subscribed connection, in a scope of its own so that a rotation can close it while the next runs. */
export interface Connection {
  readonly socket: FeedSocket
  readonly scope: Scope.CloseableScope
  readonly decode: Decoder
  readonly openedAt: number
}

/**
 * Opens a connection named `name` in a child scope of `parent` and sends `subscriptions` at the venue's pace. A
 * failure on the way closes what was opened.
 */
export const connect = (f: FeedSetup, name: string, subscriptions: ReadonlyArray<string>, parent: Scope.Scope) =>
  Effect.gen(function* () {
    const scope = yield* Scope.fork(parent, ExecutionStrategy.sequential)
    return yield* Effect.gen(function* () {
      const capacity = f.config.mailboxCapacity
      const socket = yield* open({
        exchange: f.exchange,
        url: f.url,
        maxPayload: MAX_PAYLOAD,
        highWaterMark: capacity,
        lowWaterMark: Math.floor(capacity / 4),
        coalesce: f.config.feedBatchWait,
        // Fuller batches cost less per trade (bench:e2e at 30,000/s: about 2,000 frames a batch, 0.85 cores; about
        // 2,500, 0.80); the last quarter below the pause mark takes what arrives while a batch is processed.
        coalesceFrames: Math.floor((capacity * 3) / 4),
        busyFrames: BUSY_FRAMES,
        pingInterval: f.config.pingInterval,
        pongTimeout: f.config.pongTimeout,
        ...(f.venue.ping === undefined ? {} : { ping: f.venue.ping }),
      }).pipe(Scope.extend(scope))
      yield* f.health
        .watchMailbox(`${name}:socket`, { unsafeSize: socket.buffered }, capacity)
        .pipe(Scope.extend(scope))
      for (const message of subscriptions) {
        yield* socket.send(message)
        yield* Effect.sleep(Duration.millis(f.venue.controlIntervalMs))
      }
      const openedAt = yield* Clock.currentTimeMillis
      return {
        socket,
        scope,
        decode: withLimits(f.venue.decoder(f.symbols), f.config.tradeFutureToleranceMs),
        openedAt,
      } satisfies Connection
    }).pipe(Effect.tapErrorCause(() => Scope.close(scope, Exit.void)))
  })
