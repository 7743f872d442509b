import { Duration, Schedule } from "effect"

/**
 * Every retry and reconnect backoff of the daemon, in one place: exponential from a base, doubling, at most `cap`
 * between tries, jittered (×0.8–1.2) so that many clients do not come back in step.
 */
export const cappedExponential = (base: Duration.DurationInput, cap: Duration.DurationInput, jitter = true) => {
  const capped = Schedule.exponential(base, 2).pipe(Schedule.union(Schedule.spaced(cap)))
  return jitter ? Schedule.jittered(capped) : capped
}

/**
 * A sink's target outage is waited out indefinitely: at most 10 s between tries, so a target that comes back is
 * written to again within seconds. Meanwhile the sink's buffers fill, memory first, then disk.
 */
export const sinkRetrySchedule = cappedExponential("200 millis", "10 seconds")

/** Reconnect backoff for the broker: 500 ms doubling to 30 s. */
export const rabbitReconnectSchedule = cappedExponential("500 millis", "30 seconds")

/** Between tries of an unavailable REST API: 500 ms doubling to 30 s, six tries at most. */
export const restRetrySchedule = cappedExponential("500 millis", "30 seconds").pipe(
  Schedule.intersect(Schedule.recurs(6)),
)

/** A feed's reconnect backoff: from FEED_RECONNECT_BASE_MS, at most FEED_RECONNECT_MAX_MS, as delays. */
export const feedReconnectSchedule = (config: {
  readonly reconnectBase: Duration.DurationInput
  readonly reconnectMax: Duration.DurationInput
}) => cappedExponential(config.reconnectBase, config.reconnectMax).pipe(Schedule.delays)

/** Until the broker's management API first answers: every second, without end (its reads are optional). */
export const managementRetrySchedule = Schedule.spaced("1 second")

/** A database that is down at start-up: 1 s doubling to 30 s, without end. */
export const databaseStartSchedule = cappedExponential("1 second", "30 seconds", false)

export interface RestartPolicy {
  readonly base: Duration.DurationInput
  readonly cap: Duration.DurationInput
  /** Restarts allowed within `window` before the failure escalates to the root. */
  readonly maxRestarts: number
  readonly window: Duration.DurationInput
  readonly jitter: boolean
}

/**
 * An actor's restarts: the capped backoff, allowing `maxRestarts` restarts per `window`; the window starts at the
 * first crash after a quiet period (Schedule.resetAfter).
 */
export const restartSchedule = (p: RestartPolicy) =>
  cappedExponential(p.base, p.cap, p.jitter).pipe(
    Schedule.intersect(Schedule.recurs(p.maxRestarts)),
    Schedule.resetAfter(p.window),
  )

/** A fleet member's lease renewals: a few per lease lifetime, so that one slow round trip never lets them lapse. */
export const fleetRenewSchedule = (takeoverAfterMs: number) =>
  Schedule.spaced(Duration.millis(fleetTiming(takeoverAfterMs).renewMs))

/**
 * A lease lives 60 % of FLEET_TAKEOVER_MS and is renewed every 15 %: a dead member's symbols lapse within 60 % and
 * are taken at the others' next renewal, within 75 % plus a round trip. A member that could not renew stops its
 * symbols one renewal before its leases lapse, so it has stopped before anyone may take them.
 */
export const fleetTiming = (takeoverAfterMs: number) => ({
  ttlMs: Math.round(takeoverAfterMs * 0.6),
  renewMs: Math.round(takeoverAfterMs * 0.15),
})
