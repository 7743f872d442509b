import { it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Layer, Logger, TestClock } from "effect"
import { describe, expect } from "vitest"
import { Supervisor } from "../../src/actors/Supervisor.js"
import type { RestartPolicy } from "../../src/domain/Schedules.js"
import { Health } from "../../src/layers/Health.js"
import { structuredLogger } from "../../src/layers/Logging.js"

const policy: RestartPolicy = { base: "100 millis", cap: "1 second", maxRestarts: 5, window: "1 minute", jitter: false }
const TestLayer = Supervisor.Default.pipe(Layer.provideMerge(Health.Default))
const lines: Array<string> = []

describe("Supervisor", () => {
  it.scoped("restarts a failing actor on an exponential, capped schedule, then escalates to the root", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      const health = yield* Health
      const starts: Array<number> = []
      yield* supervisor.spawn(
        "flaky",
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          starts.push(now)
          return Effect.fail("boom" as const)
        }),
        policy,
      )
      const fatal = yield* Effect.fork(supervisor.awaitFatal)
      yield* TestClock.adjust("10 seconds")
      expect(starts).toEqual([0, 100, 300, 700, 1500, 2500])
      const exit = yield* Fiber.await(fatal)
      expect(Exit.isFailure(exit)).toBe(true)
      const report = yield* health.report
      expect(report.components.flaky?.state).toBe("failed")
      expect(report.ready).toBe(false)
    }).pipe(Effect.provide(TestLayer)),
  )

  it.scoped("restarts after a defect (a thrown exception) as after a typed error", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      let runs = 0
      yield* supervisor.spawn(
        "thrower",
        Effect.suspend(() => {
          runs++
          if (runs < 3) throw new Error("bug")
          return Effect.never
        }),
        policy,
      )
      yield* TestClock.adjust("1 second")
      expect(runs).toBe(3)
      expect((yield* (yield* Health).report).components.thrower?.state).toBe("running")
    }).pipe(Effect.provide(TestLayer)),
  )

  it.scoped("logs a crash with what was thrown, its stack and the actor, never as an empty object", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      let runs = 0
      yield* supervisor.spawn(
        "feed:binance",
        Effect.suspend(() => {
          if (runs++ === 0) throw new RangeError("Maximum call stack size exceeded")
          return Effect.never
        }),
        policy,
      )
      yield* TestClock.adjust("1 second")
      const crash = lines.map((l) => JSON.parse(l) as Record<string, string>).find((l) => l.level === "warn")!
      expect(crash).toMatchObject({
        message: "actor feed:binance crashed; restarting: RangeError: Maximum call stack size exceeded",
        actor: "feed:binance",
      })
      expect(crash.cause).toContain("Supervisor.test.ts")
      expect(JSON.stringify(crash)).not.toContain("{}")
    }).pipe(
      Effect.provide(TestLayer),
      Effect.provide(
        Logger.replace(
          Logger.defaultLogger,
          Logger.make((o) => void lines.push(structuredLogger.log(o))),
        ),
      ),
    ),
  )

  it.scoped("forgives crashes spread wider apart than the restart window", () =>
    Effect.gen(function* () {
      const supervisor = yield* Supervisor
      let runs = 0
      yield* supervisor.spawn(
        "occasional",
        Effect.zipRight(
          Effect.sleep("70 seconds"),
          Effect.suspend(() => {
            runs++
            return Effect.fail("boom" as const)
          }),
        ),
        { ...policy, maxRestarts: 1 },
      )
      const fatal = yield* Effect.fork(supervisor.awaitFatal)
      yield* TestClock.adjust("10 minutes")
      expect(runs).toBeGreaterThanOrEqual(8)
      expect(fatal.unsafePoll()).toBeNull()
    }).pipe(Effect.provide(TestLayer)),
  )
})
