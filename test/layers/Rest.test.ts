import { createServer } from "node:http"
import { it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, TestClock } from "effect"
import { untilClockWait } from "../support/wait.js"
import { describe, expect } from "vitest"
import { WeightBudget } from "../../src/domain/WeightBudget.js"
import { makeRestClient, retryAfterMs } from "../../src/layers/Rest.js"
import { until } from "../support/daemon.js"

/** A REST server answering from a script, one answer per request (the last one repeats). */
const scripted = (answers: ReadonlyArray<{ status: number; body: string; headers?: Record<string, string> }>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      let requests = 0
      const server = createServer((_, res) => {
        const a = answers[Math.min(requests, answers.length - 1)]!
        requests++
        res.writeHead(a.status, { "content-type": "application/json", ...a.headers }).end(a.body)
      })
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
      const { port } = server.address() as { port: number }
      return { url: `http://127.0.0.1:${port}`, requests: () => requests, server }
    }),
    ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve()))),
  )

/** Real time passes (the server answers) until the client is asleep on the TestClock. */
const asleep = Effect.gen(function* () {
  const deadline = Date.now() + 10_000
  while ((yield* TestClock.sleeps()).length === 0) {
    if (Date.now() > deadline) return yield* Effect.die("the client never waited on the clock")
    yield* Effect.promise(() => new Promise((r) => setTimeout(r, 10)))
  }
})
/** The client's wait ends a millisecond from now: it is still waiting, so it cannot have sent anything since. */
const stillWaiting = untilClockWait("the client still waiting on the clock", 1)

describe("REST client within an exchange's rate limits", () => {
  it.scoped("honours a 429's Retry-After on the clock before asking again", () =>
    Effect.gen(function* () {
      const server = yield* scripted([
        { status: 429, body: '{"code":-1003}', headers: { "retry-after": "30" } },
        { status: 200, body: "[1,2,3]" },
      ])
      const client = makeRestClient({
        exchange: "binance",
        baseUrl: server.url,
        budget: new WeightBudget(6_000, 60_000),
        timeout: Duration.seconds(10),
      })
      const fiber = yield* Effect.fork(client.get("/api/v3/aggTrades", { symbol: "BTCUSDT", fromId: 1 }, 4))
      yield* Effect.promise(() => until("the first request", () => server.requests() === 1))
      yield* asleep
      yield* TestClock.adjust(Duration.millis(29_999))
      yield* stillWaiting
      expect(server.requests()).toBe(1)
      expect(Option.isNone(yield* Fiber.poll(fiber))).toBe(true)
      yield* TestClock.adjust(Duration.millis(1))
      expect(yield* Fiber.join(fiber)).toEqual([1, 2, 3])
      expect(server.requests()).toBe(2)
    }),
  )

  it.scoped("never spends more weight per window than configured", () =>
    Effect.gen(function* () {
      const server = yield* scripted([{ status: 200, body: "[]" }])
      const budget = new WeightBudget(10, 60_000)
      const client = makeRestClient({ exchange: "binance", baseUrl: server.url, budget, timeout: Duration.seconds(10) })
      const fiber = yield* Effect.fork(
        Effect.forEach([1, 2, 3, 4, 5], (i) => client.get("/api/v3/aggTrades", { fromId: i }, 4), { discard: true }),
      )
      yield* Effect.promise(() => until("two requests", () => server.requests() === 2))
      yield* asleep
      expect(budget.usedAt(0)).toBe(8)
      yield* TestClock.adjust(Duration.millis(59_999))
      yield* stillWaiting
      expect(server.requests()).toBe(2)
      yield* TestClock.adjust(Duration.millis(1))
      yield* Effect.promise(() => until("two more", () => server.requests() === 4))
      yield* asleep
      expect(budget.usedAt(60_000)).toBe(8)
      yield* TestClock.adjust(Duration.seconds(60))
      yield* Fiber.join(fiber)
      expect(server.requests()).toBe(5)
    }),
  )

  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(retryAfterMs("30", 0)).toBe(30_000)
    expect(retryAfterMs(new Date(90_000).toUTCString(), 30_000)).toBe(60_000)
    expect(retryAfterMs(null, 0)).toBeUndefined()
    expect(retryAfterMs("soon", 0)).toBeUndefined()
  })

  it("waits for the window to free enough weight, and for a back-off", () => {
    const b = new WeightBudget(10, 1_000)
    expect(b.take(6, 0)).toBe(0)
    expect(b.take(3, 100)).toBe(0)
    expect(b.take(4, 200)).toBe(800)
    expect(b.take(4, 1_000)).toBe(0)
    b.backOff(5_000)
    expect(b.take(1, 1_500)).toBe(3_500)
    // Heavier than the whole limit: it waits for an empty window instead of forever.
    expect(b.take(50, 5_000)).toBe(0)
    expect(b.take(1, 5_001)).toBe(999)
  })
})
