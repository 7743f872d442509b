import { Clock, Duration, Effect } from "effect"
import type { Connection } from "./Connection.js"
import type { FeedSetup } from "./FeedSetup.js"
import type { ShardState } from "./ShardState.js"
import { FeedError } from "./Socket.js"

/** A batch that waits this long for room downstream means the daemon, not the exchange, is what is slow. */
const BLOCKED_GRACE_MS = 1_000

/**
 * Fails the connection when no trade or quote came for longer than its own rate makes usual. The socket's
 * liveness (a ping must be answered) is the other watchdog, kept by the socket itself.
 */
export const staleness = (f: FeedSetup, state: ShardState, c: Connection) =>
  Effect.gen(function* () {
    while (true) {
      const now = yield* Clock.currentTimeMillis
      // Back-pressure (a paused socket, a batch waiting on a full mailbox) is not silence: the exchange is being
      // held back by us, so the silence is counted from when we take data again.
      if (c.socket.isPaused() || state.heldBack(now, BLOCKED_GRACE_MS)) state.data.restart(now, false)
      const silent = state.data.check(now)[0]
      if (silent !== undefined)
        return yield* new FeedError({
          exchange: f.exchange,
          op: "stale",
          reason: `no trade or quote for ${Duration.format(Duration.millis(silent.silentMs))} (limit ${Duration.format(Duration.millis(silent.limitMs))})`,
        })
      yield* Effect.sleep(Duration.millis(Math.max(1, state.data.nextCheckAt() - now)))
    }
  })

/** Ends (with the reason) when the connection is due to be replaced ahead of the venue's forced disconnect. */
export const ageLimit = (f: FeedSetup, c: Connection) => {
  const rotateAfterMs = f.rotateAfterMs
  return rotateAfterMs === undefined
    ? Effect.never
    : Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.as(
          Effect.sleep(Duration.millis(Math.max(0, c.openedAt + rotateAfterMs - now))),
          `connection age ${Duration.format(Duration.millis(rotateAfterMs))}`,
        ),
      )
}
