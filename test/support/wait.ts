import { Effect, TestClock } from "effect"

/** Waits in real time (not the TestClock) for I/O-driven state, failing the test after `ms`. */
export const waitUntil = (what: string, condition: () => boolean, ms = 10_000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + ms
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 10))
    }
  })

/**
 * Waits in real time until some fiber sleeps on the TestClock until a time after now and at most `withinMs` ahead:
 * an actor that ran on until its next timed wait (a budget, a backoff). Where that sleep was already pending, it
 * returns at once: nothing could have run since, so what a test checks next is settled, not raced.
 */
export const untilClockWait = (what: string, withinMs: number, ms = 10_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (true) {
      const now = yield* TestClock.currentTimeMillis
      if ([...(yield* TestClock.sleeps())].some((t) => t > now && t <= now + withinMs)) return
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
    }
  })

/** `waitUntil` for a condition that is itself an effect (a metric's value). */
export const eventually = (what: string, condition: Effect.Effect<boolean>, ms = 10_000) =>
  Effect.gen(function* () {
    const deadline = Date.now() + ms
    while (!(yield* condition)) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
    }
  })
