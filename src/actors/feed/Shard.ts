import { Clock, Duration, Effect, Metric, Schedule } from "effect"
import { feedReconnectSchedule } from "../../domain/Schedules.js"
import * as Metrics from "../../layers/Metrics.js"
import type { FeedSetup } from "./FeedSetup.js"
import { catchUp, pollWhileDown } from "./RestFallback.js"
import { session } from "./Session.js"
import { ShardState } from "./ShardState.js"
import type { FeedError } from "./Socket.js"

/**
 * One connection's worth of symbols, kept connected forever: sessions one after another, backing off while the
 * exchange cannot be reached, with REST polling standing in after repeated failures. An unreachable exchange is a
 * state to wait out, not a crash.
 */
export const runShard = (f: FeedSetup, shard: ReadonlyArray<string>, name: string) =>
  Effect.gen(function* () {
    const state = new ShardState(f.startedAt, f.staleMs)
    const reconnectsBy = (e: FeedError) =>
      Metric.tagged(Metric.tagged(Metrics.reconnects, "exchange", f.exchange), "reason", e.op)

    // A connection that stayed up for FEED_HEALTHY_AFTER_MS ends "successfully", so the retry below starts its
    // backoff afresh instead of continuing from where an earlier bad patch left it.
    const attempt = Effect.gen(function* () {
      const started = yield* Clock.currentTimeMillis
      return yield* session(f, name, shard, state).pipe(
        Effect.tapError(() =>
          Effect.flatMap(f.eventTimeNow, (at) => (state.lost(at) ? catchUp(f, shard, at) : Effect.void)),
        ),
        Effect.catchAll((e: FeedError) => {
          state.ended(e.op === "stale")
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            now - started >= Duration.toMillis(f.config.healthyAfter)
              ? Effect.zipRight(
                  Metric.increment(reconnectsBy(e)),
                  Effect.logWarning(
                    `${f.exchange}: connection lost after ${Duration.format(Duration.millis(now - started))} (${e.reason}); reconnecting`,
                  ),
                )
              : Effect.fail(e),
          )
        }),
      )
    })

    const backoff = feedReconnectSchedule(f.config).pipe(
      Schedule.tapInput((e: FeedError) =>
        Effect.all([
          f.health.set(name, "backoff", e.message),
          Metric.increment(reconnectsBy(e)),
          Effect.sync(() => state.attemptFailed()),
        ]),
      ),
      Schedule.tapOutput((delay) =>
        Effect.logWarning(
          `${f.exchange}: ${f.url} unavailable; reconnecting in ${Duration.format(Duration.millis(Math.round(Duration.toMillis(delay))))}`,
        ),
      ),
    )
    const reconnecting = Effect.forever(
      attempt.pipe(
        Effect.tapError((e) => Effect.logWarning(`${f.exchange}: ${e.message}`)),
        Effect.retry(backoff),
      ),
    )
    return yield* Effect.all([reconnecting, pollWhileDown(f, shard, state)], {
      concurrency: "unbounded",
      discard: true,
    })
  })
