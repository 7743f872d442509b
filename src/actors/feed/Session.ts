import { Clock, Effect, Exit, Metric, Scope } from "effect"
import * as Metrics from "../../layers/Metrics.js"
import { type Connection, connect } from "./Connection.js"
import type { FeedSetup } from "./FeedSetup.js"
import { catchUp } from "./RestFallback.js"
import type { ShardState } from "./ShardState.js"
import { ageLimit, staleness } from "./Watchdogs.js"

/** Reads frames until the server announces a shutdown (returned) or the connection fails. */
const consume = (f: FeedSetup, state: ShardState, c: Connection, untilShutdown: boolean) =>
  Effect.gen(function* () {
    while (true) {
      const frames = yield* c.socket.take
      state.blocked(yield* Clock.currentTimeMillis)
      const r = yield* f.route(frames, c.decode).pipe(Effect.ensuring(Effect.sync(() => state.blocked(undefined))))
      if (r.data > 0) state.data.observe("data", yield* Clock.currentTimeMillis)
      if (untilShutdown && r.shutdown !== undefined) return `server notice: ${r.shutdown}`
    }
  })

/**
 * One connection after another without a gap, until one fails. When a rotation is due (server notice, age), the
 * next connection subscribes while the current one is still read; its frames wait in its own buffer (or in the
 * kernel once that is full) until the current one is closed and drained, so trades come in order and the repeats
 * of the overlap are recognised by id.
 */
export const session = (f: FeedSetup, name: string, shard: ReadonlyArray<string>, state: ShardState) =>
  Effect.scoped(
    Effect.gen(function* () {
      const subscriptions = f.venue.subscribe(shard.map(f.venue.instrument), f.feed.settings)
      const parent = yield* Effect.scope
      yield* f.health.set(name, "connecting", f.url)
      let current = yield* connect(f, name, subscriptions, parent)
      if (state.connected(current.openedAt)) yield* catchUp(f, shard, state.lostAt)
      yield* f.health.set(name, "connected", f.url)
      yield* Effect.logInfo(`${f.exchange}: connected to ${f.url} with ${shard.length} symbol(s)`)
      while (true) {
        // raceFirst, not raceAll: the first to end decides, failures included.
        const why = yield* consume(f, state, current, true).pipe(
          Effect.raceFirst(current.socket.liveness),
          Effect.raceFirst(staleness(f, state, current)),
          Effect.raceFirst(ageLimit(f, current)),
        )
        yield* Effect.logInfo(`${f.exchange}: replacing the connection (${why}); overlapping the new one`)
        const next = yield* connect(f, name, subscriptions, parent)
        yield* Effect.raceFirst(consume(f, state, current, false), Effect.sleep(f.config.rotationOverlap)).pipe(
          Effect.catchAll(() => Effect.void),
        )
        yield* Scope.close(current.scope, Exit.void)
        yield* consume(f, state, current, false).pipe(Effect.catchAll(() => Effect.void))
        current = next
        state.rotated(current.openedAt)
        yield* Metric.increment(Metric.tagged(Metrics.rotations, "exchange", f.exchange))
      }
    }),
  )
