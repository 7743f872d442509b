import { it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option } from "effect"
import type { AddressInfo } from "node:net"
import { describe, expect } from "vitest"
import { WebSocketServer } from "ws"
import { open } from "../../../src/actors/feed/Socket.js"

/** A server that sends `first` frames on connect, then `later` frames `afterMs` later. */
const server = (first: number, later: number, afterMs: number) =>
  Effect.acquireRelease(
    Effect.async<WebSocketServer>((resume) => {
      const wss: WebSocketServer = new WebSocketServer({ host: "127.0.0.1", port: 0 }, () =>
        resume(Effect.succeed(wss)),
      )
      wss.on("connection", (ws) => {
        for (let i = 0; i < first; i++) ws.send(`a${i}`)
        setTimeout(() => {
          for (let i = 0; i < later; i++) ws.send(`b${i}`)
        }, afterMs)
      })
    }),
    (wss) => Effect.async<void>((resume) => wss.close(() => resume(Effect.void))),
  )

const socket = (wss: WebSocketServer, coalesceMs: number, coalesceFrames: number, busyFrames = 0) =>
  open({
    exchange: "binance",
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    maxPayload: 1 << 20,
    highWaterMark: 1_000,
    lowWaterMark: 250,
    coalesce: Duration.millis(coalesceMs),
    coalesceFrames,
    busyFrames,
    pingInterval: Duration.seconds(30),
    pongTimeout: Duration.seconds(30),
  })

/** Until at least `n` frames wait in the socket's buffer. */
const buffered = (s: Effect.Effect.Success<ReturnType<typeof socket>>, n: number) =>
  Effect.gen(function* () {
    while (Option.getOrElse(s.buffered(), () => 0) < n) yield* Effect.sleep(Duration.millis(5))
  })

describe("a feed socket's batches (FEED_BATCH_MS)", () => {
  it.scopedLive(
    "with fewer frames waiting than a full batch, the take waits for those that follow and hands them over together",
    () =>
      Effect.gen(function* () {
        const wss = yield* server(1, 5, 40)
        const s = yield* socket(wss, 400, 100)
        const batch = yield* s.take
        expect(batch.map((f) => f.raw)).toEqual(["a0", "b0", "b1", "b2", "b3", "b4"])
      }),
  )

  it.scopedLive("without a wait (0) each read is handed over at once", () =>
    Effect.gen(function* () {
      const wss = yield* server(1, 5, 200)
      const s = yield* socket(wss, 0, 100)
      const batch = yield* s.take
      expect(batch.map((f) => f.raw)).toEqual(["a0"])
    }),
  )

  it.scopedLive("a quiet feed's frames go at once: the wait applies only after a take of busyFrames or more", () =>
    Effect.gen(function* () {
      const wss = yield* server(1, 5, 200)
      const s = yield* socket(wss, 5_000, 100, 2)
      const started = Date.now()
      expect((yield* s.take).map((f) => f.raw)).toEqual(["a0"])
      expect(Date.now() - started).toBeLessThan(2_000)
      const busy = yield* server(4, 1, 100)
      const t = yield* socket(busy, 400, 100, 4)
      yield* buffered(t, 4)
      expect((yield* t.take).length).toBe(4)
      const next = Date.now()
      expect((yield* t.take).map((f) => f.raw)).toEqual(["b0"])
      expect(Date.now() - next).toBeGreaterThanOrEqual(300)
    }),
  )

  it.scopedLive("a full batch (coalesceFrames) goes at once, without waiting", () =>
    Effect.gen(function* () {
      const wss = yield* server(4, 1, 200)
      const s = yield* socket(wss, 5_000, 3)
      yield* buffered(s, 4)
      const started = Date.now()
      expect((yield* s.take).map((f) => f.raw)).toEqual(["a0", "a1", "a2", "a3"])
      expect(Date.now() - started).toBeLessThan(5_000)
    }),
  )

  it.scopedLive(
    "the wait ends as soon as a full batch waits, so a long one never holds frames up to the pause mark",
    () =>
      Effect.gen(function* () {
        const wss = yield* server(1, 5, 100)
        const s = yield* socket(wss, 10_000, 4)
        yield* buffered(s, 1)
        const started = Date.now()
        expect((yield* s.take).map((f) => f.raw)).toEqual(["a0", "b0", "b1", "b2", "b3", "b4"])
        expect(Date.now() - started).toBeLessThan(5_000)
      }),
  )

  it.scopedLive("a take interrupted while it waits has taken nothing: the frames are all there for the next", () =>
    Effect.gen(function* () {
      const wss = yield* server(2, 2, 300)
      const s = yield* socket(wss, 5_000, 4)
      yield* buffered(s, 2)
      const first = yield* Effect.fork(s.take)
      yield* Effect.sleep(Duration.millis(50))
      yield* Fiber.interrupt(first)
      yield* buffered(s, 4).pipe(
        Effect.timeoutFail({ duration: Duration.seconds(3), onTimeout: () => "frames were lost" }),
      )
      expect((yield* s.take).map((f) => f.raw)).toEqual(["a0", "a1", "b0", "b1"])
    }),
  )
})
