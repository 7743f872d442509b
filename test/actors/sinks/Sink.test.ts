import { appendFileSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Duration, Effect, Fiber, Layer, Option, Scope, TestClock } from "effect"
import { describe, expect } from "vitest"
import { DiskQueue } from "../../../src/actors/sinks/DiskQueue.js"
import { makeSink, SinkUnavailable } from "../../../src/actors/sinks/Sink.js"
import { Supervisor } from "../../../src/actors/Supervisor.js"
import { Health } from "../../../src/layers/Health.js"
import { TestConfig } from "../../support/config.js"

const tmp = () => mkdtempSync(join(tmpdir(), "sink-"))

/** A target that is up or down at the test's word and remembers what it took, in order. */
const target = () => {
  const state = { up: true, written: [] as Array<number>, attempts: 0 }
  const write = (batch: ReadonlyArray<number>) =>
    Effect.suspend(() => {
      state.attempts++
      if (!state.up) return Effect.fail(new SinkUnavailable({ sink: "test", reason: "target down", remaining: batch }))
      state.written.push(...batch)
      return Effect.void
    })
  return { state, write }
}

const codec = { encode: (n: number) => String(n), decode: (l: string) => (/^\d+$/.test(l) ? Number(l) : undefined) }

const layer = Supervisor.Default.pipe(
  Layer.provideMerge(Health.Default),
  Layer.provideMerge(TestConfig({ shutdownTimeout: Duration.seconds(5) })),
)

/** A sink of numbers in `dir` over the target's `write`, with the test's sizes. */
const numberSink = (
  dir: string,
  write: ReturnType<typeof target>["write"],
  sizes: { readonly batchSize: number; readonly memoryRecords: number; readonly maxBytes: number },
) =>
  makeSink<number>({
    name: "test",
    component: "store:test",
    batchSize: sizes.batchSize,
    linger: Duration.zero,
    memoryRecords: sizes.memoryRecords,
    spill: { ...codec, dir, maxBytes: sizes.maxBytes },
    write,
  })

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)

describe("DiskQueue", () => {
  it("delivers in order across segments put back in front, and again after a restart until committed", () => {
    const dir = tmp()
    const { queue } = DiskQueue.open(dir, 1 << 20)
    queue.append(["3", "4"])
    queue.append(["5"])
    queue.pushFront(["1", "2"])
    expect(queue.records).toBe(5)
    const first = queue.read(10)!
    expect(first.lines).toEqual(["1", "2"])
    queue.commit(first)
    const second = queue.read(1)!
    expect(second.lines).toEqual(["3"])
    queue.commit(second)
    // Read but not committed: a restart delivers it again.
    expect(queue.read(10)!.lines).toEqual(["4", "5"])
    queue.close()
    const reopened = DiskQueue.open(dir, 1 << 20)
    expect(reopened.recovery.bytes).toBe(4)
    expect(reopened.queue.records).toBe(2)
    const again = reopened.queue.read(10)!
    expect(again.lines).toEqual(["4", "5"])
    reopened.queue.commit(again)
    expect(reopened.queue.isEmpty).toBe(true)
    // Everything delivered: no segment is left behind.
    expect(readdirSync(dir).filter((n) => n.endsWith(".log"))).toEqual([])
  })

  it("drops a record a crash cut short, and refuses to grow past its bound (an empty queue takes one batch)", () => {
    const dir = tmp()
    const { queue } = DiskQueue.open(dir, 10)
    queue.append(["aaaa", "bbbb"])
    queue.close()
    const [segment] = readdirSync(dir).filter((n) => n.endsWith(".log"))
    appendFileSync(join(dir, segment!), "cut-sho")
    const { queue: reopened, recovery } = DiskQueue.open(dir, 10)
    expect(recovery.tornBytes).toBe(7)
    expect(reopened.read(10)!.lines).toEqual(["aaaa", "bbbb"])
    expect(reopened.fits(1)).toBe(false)
    expect(DiskQueue.open(tmp(), 10).queue.fits(1_000)).toBe(true)
  })
})

describe("a sink's buffers", () => {
  it.scoped("memory first, then disk, delivered in order; a target outage moves the batch and memory to disk", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const t = target()
      t.state.up = false
      const sink = yield* numberSink(dir, t.write, { batchSize: 10, memoryRecords: 20, maxBytes: 1 << 20 })
      yield* sink.offer(range(0, 15))
      yield* TestClock.adjust("10 millis")
      // The first batch failed: it and the memory behind it are on disk, so a crash now loses nothing.
      expect(t.state.attempts).toBeGreaterThan(0)
      expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 15 })
      // While the disk holds anything, new records queue behind it there, keeping the order.
      yield* sink.offer(range(15, 40))
      expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 40 })
      expect(t.state.written).toEqual([])
      t.state.up = true
      yield* TestClock.adjust("30 seconds")
      expect(t.state.written).toEqual(range(0, 40))
      expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 0, diskBytes: 0 })
      // Once the disk is empty, records stay in memory again.
      yield* sink.offer(range(40, 45))
      yield* TestClock.adjust("10 millis")
      expect(t.state.written).toEqual(range(0, 45))
    }).pipe(Effect.provide(layer)),
  )

  it.scoped(
    "a full disk buffer makes offers wait (back-pressure), never drop; all of it arrives once the target is back",
    () =>
      Effect.gen(function* () {
        const dir = tmp()
        const t = target()
        t.state.up = false
        // About 20 records of 4 bytes each on disk.
        const sink = yield* numberSink(dir, t.write, { batchSize: 5, memoryRecords: 5, maxBytes: 80 })
        const offering = yield* Effect.fork(
          Effect.forEach(range(1000, 1100), (n) => sink.offer([n]), { discard: true }),
        )
        yield* TestClock.adjust("10 millis")
        expect(Option.isNone(yield* Fiber.poll(offering))).toBe(true)
        expect(sink.status().backPressure).toBe(true)
        // The bound holds, but for the batch and memory an outage moved to the front (bounded by memory itself).
        expect(sink.status().diskBytes).toBeLessThanOrEqual(80 + 2 * 5 * 5)
        expect(sink.status().diskRecords).toBeLessThan(50)
        t.state.up = true
        yield* TestClock.adjust("1 minute")
        yield* Fiber.join(offering)
        yield* TestClock.adjust("1 minute")
        expect(t.state.written).toEqual(range(1000, 1100))
        expect(sink.status().backPressure).toBe(false)
      }).pipe(Effect.provide(layer)),
  )

  it.effect("what is on disk when the process dies is delivered by the next one, before anything new", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const down = target()
      down.state.up = false
      const sizes = { batchSize: 10, memoryRecords: 100, maxBytes: 1 << 20 }
      // The first incarnation never gets to finalise (as under kill -9): its scope is never closed.
      const abandoned = yield* Scope.make()
      yield* Effect.gen(function* () {
        const sink = yield* numberSink(dir, down.write, sizes)
        yield* sink.offer(range(0, 30))
        yield* TestClock.adjust("10 millis")
        expect(sink.status().diskRecords).toBe(30)
      }).pipe(Effect.provide(layer), Scope.extend(abandoned))
      const next = target()
      yield* Effect.gen(function* () {
        const sink = yield* numberSink(dir, next.write, sizes)
        yield* sink.offer(range(30, 35))
        yield* TestClock.adjust("1 second")
        expect(next.state.written).toEqual(range(0, 35))
      }).pipe(Effect.provide(layer), Effect.scoped)
    }),
  )
})
