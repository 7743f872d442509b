import { type Duration, Effect, Schedule } from "effect"
import type { Notification } from "../domain/Incidents.js"
import { type MarketSink, SINKS } from "./sinks/registry.js"

/**
 * The configured sinks, each an actor with its own memory and disk buffer, so that one slow or stopped target
 * never holds back the others: the aggregators hand every sink its share in turn, and a sink's `offer` waits only
 * when its disk buffer is full too. Released after the aggregators drained into them; each flushes within
 * SHUTDOWN_TIMEOUT_MS and keeps the rest on disk for the next start.
 */
export class Sinks extends Effect.Service<Sinks>()("ingestd/Sinks", {
  scoped: Effect.gen(function* () {
    const sinks: Array<MarketSink> = []
    for (const plugin of SINKS) {
      const sink = yield* plugin.make
      if (sink !== undefined) sinks.push(sink)
    }
    if (sinks.length > 0) yield* Effect.logInfo(`sinks: ${sinks.map((s) => s.name).join(", ")}`)
    return {
      sinks: sinks as ReadonlyArray<MarketSink>,
      alerts: (notifications: ReadonlyArray<Notification>) =>
        notifications.length === 0
          ? Effect.void
          : Effect.forEach(sinks, (s) => s.alerts?.(notifications) ?? Effect.void, { discard: true }),
      status: () => sinks.flatMap((s) => [s.status(), ...(s.outputs?.() ?? [])]),
      /**
       * Waits, at most `limit`, until the sink named `name` (if configured) holds nothing: no record in memory, on
       * disk or being written. True when it got there.
       */
      drained: (name: string, limit: Duration.DurationInput) => {
        const sink = sinks.find((s) => s.name === name)
        if (sink === undefined) return Effect.succeed(true)
        const empty = Effect.sync(() => {
          const s = sink.status()
          return s.memoryRecords + s.diskRecords + s.writing === 0
        })
        return empty.pipe(
          Effect.repeat({ schedule: Schedule.spaced("100 millis"), until: (done) => done }),
          Effect.timeoutTo({ duration: limit, onSuccess: () => true, onTimeout: () => false }),
        )
      },
    } as const
  }),
}) {}
