import { it } from "@effect/vitest"
import { Effect, Metric } from "effect"
import { expect } from "vitest"
import { Health } from "../../src/layers/Health.js"
import * as Metrics from "../../src/layers/Metrics.js"

/** Holds the event loop for `ms` from a timer callback, as a long synchronous step of the daemon would. */
const blockLoop = (ms: number) =>
  Effect.promise(
    () =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          const until = performance.now() + ms
          while (performance.now() < until);
          setTimeout(resolve, 30)
        }, 30),
      ),
  )

it.live("reports how late the event loop ran since the last scrape, and starts afresh after each", () =>
  Effect.gen(function* () {
    const health = yield* Health
    yield* health.sample
    yield* blockLoop(300)
    yield* health.sample
    const max = (yield* Metric.value(Metrics.eventLoopDelayMax)).value
    expect(max).toBeGreaterThan(0.25)
    expect(max).toBeLessThan(1)
    // A quiet loop afterwards: the next scrape no longer carries the 300 ms.
    yield* Effect.sleep("200 millis")
    yield* health.sample
    expect((yield* Metric.value(Metrics.eventLoopDelayMax)).value).toBeLessThan(0.25)
    expect((yield* Metric.value(Metrics.eventLoopDelayP99)).value).toBeLessThan(0.25)
  }).pipe(Effect.provide(Health.Default)),
)
