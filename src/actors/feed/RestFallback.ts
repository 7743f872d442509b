import { Duration, Effect } from "effect"
import type { FeedSetup } from "./FeedSetup.js"
import type { ShardState } from "./ShardState.js"

/**
 * What a dropped connection may have missed, fetched from REST: from each symbol's newest trade on, or, for a
 * symbol that has not traded yet, from `lostAt` (exchange time), when the connection went.
 */
export const catchUp = (f: FeedSetup, shard: ReadonlyArray<string>, lostAt: number) =>
  f.backfill === undefined
    ? Effect.void
    : Effect.forEach(shard, (s) => f.backfill!.catchUp(s, lostAt), { discard: true })

/** While the WebSocket cannot be reached, trades are fetched over REST at REST_POLL_INTERVAL_MS. */
export const pollWhileDown = (f: FeedSetup, shard: ReadonlyArray<string>, state: ShardState) =>
  Effect.gen(function* () {
    const backfill = f.backfill
    if (backfill === undefined) return
    const { pollAfterFailures, pollInterval } = f.config.backfill
    let polling = false
    while (true) {
      yield* Effect.sleep(pollInterval)
      const on = state.failures >= pollAfterFailures
      if (on !== polling) {
        polling = on
        yield* backfill.setPolling(shard, on)
        yield* on
          ? Effect.logWarning(
              `${f.exchange}: ${state.failures} connection attempts failed; polling REST trades every ${Duration.format(pollInterval)} until the WebSocket is back`,
            )
          : Effect.logInfo(`${f.exchange}: WebSocket back; REST polling stopped`)
      }
      if (on) yield* Effect.forEach(shard, backfill.poll, { discard: true })
    }
  })
