import { appendFileSync, mkdtempSync, readdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Deferred, Duration, Effect, Fiber, Layer, Option, Scope, TestClock } from "effect"
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
  sizes: {
    readonly batchSize: number
    readonly memoryRecords: number
    readonly maxBytes: number
    readonly linger?: Duration.Duration
  },
) =>
  makeSink<number>({
    name: "test",
    component: "store:test",
    batchSize: sizes.batchSize,
    linger: sizes.linger ?? Duration.zero,
    memoryRecords: sizes.memoryRecords,
    spill: { ...codec, dir, maxBytes: sizes.maxBytes },
    write,
  })

/** Sizes for the linger tests: batches of 5 that wait up to 1 s to fill. */
const lingering = { batchSize: 5, memoryRecords: 10, maxBytes: 1 << 20, linger: Duration.seconds(1) }

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

  it("reads a whole batch past its 1 MiB read size, records longer than it included", () => {
    const { queue } = DiskQueue.open(tmp(), 64 << 20)
    const small = range(0, 20_000).map((i) => `record ${i} `.padEnd(190, "x"))
    const long = "y".repeat(3 << 20)
    queue.append([...small, long, "after"])
    const first = queue.read(20_000)!
    expect(first.lines).toEqual(small)
    queue.commit(first)
    expect(queue.read(5)!.lines).toEqual([long, "after"])
  })
})

describe("a sink's buffers", () => {
  it.scoped("memory first; an outage moves the batch and memory to disk, and what comes during it goes there too", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const t = target()
      t.state.up = false
      const sink = yield* numberSink(dir, t.write, { batchSize: 10, memoryRecords: 20, maxBytes: 1 << 20 })
      yield* sink.offer(range(0, 15))
      yield* TestClock.adjust("10 millis")
      // The first batch failed: it and the memory behind it are on disk, so a crash now loses nothing ...
      expect(t.state.attempts).toBeGreaterThan(0)
      expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 15 })
      // ... nor later in the outage: while the target is down, new records go to disk too.
      yield* sink.offer(range(15, 25))
      expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 25 })
      expect(t.state.written).toEqual([])
      t.state.up = true
      yield* TestClock.adjust("30 seconds")
      expect(t.state.written).toEqual(range(0, 25))
      expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 0, diskBytes: 0 })
      // Once the disk is empty, records stay in memory again.
      yield* sink.offer(range(25, 27))
      yield* TestClock.adjust("10 millis")
      expect(t.state.written).toEqual(range(0, 27))
    }).pipe(Effect.provide(layer)),
  )

  it.scoped(
    "a sink that is up again drains its disk while new records wait in memory behind it; only what overflows spills",
    () =>
      Effect.gen(function* () {
        const dir = tmp()
        const t = target()
        // After the outage, the second write from disk hangs until the test lets it go.
        const gate = yield* Deferred.make<void>()
        const write = (batch: ReadonlyArray<number>) =>
          t.state.up && t.state.written.length >= 5
            ? Effect.zipRight(Deferred.await(gate), t.write(batch))
            : t.write(batch)
        t.state.up = false
        const sink = yield* numberSink(dir, write, { batchSize: 5, memoryRecords: 10, maxBytes: 1 << 20 })
        yield* sink.offer(range(0, 10))
        yield* TestClock.adjust("10 millis")
        expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 10 })
        t.state.up = true
        yield* TestClock.adjust("30 seconds")
        // 0-4 went through; 5-9 are being written from disk.
        expect(t.state.written).toEqual(range(0, 5))
        yield* sink.offer(range(10, 16))
        expect(sink.status()).toMatchObject({ memoryRecords: 6, diskRecords: 5 })
        // Memory full: what waited there goes to the disk's end first, then the new records.
        yield* sink.offer(range(16, 22))
        expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 17 })
        yield* sink.offer(range(22, 24))
        expect(sink.status()).toMatchObject({ memoryRecords: 2, diskRecords: 17 })
        yield* Deferred.succeed(gate, undefined)
        yield* TestClock.adjust("10 seconds")
        expect(t.state.written).toEqual(range(0, 24))
        expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 0 })
      }).pipe(Effect.provide(layer)),
  )

  it.scoped(
    "a partial batch waits out the linger from its oldest record, a whole one goes at once, never spilling meanwhile",
    () =>
      Effect.gen(function* () {
        const t = target()
        const sink = yield* numberSink(tmp(), t.write, lingering)
        yield* sink.offer(range(0, 3))
        yield* TestClock.adjust("10 millis")
        expect(t.state.written).toEqual([])
        yield* sink.offer(range(3, 5))
        yield* TestClock.adjust("10 millis")
        expect(t.state.written).toEqual(range(0, 5))
        yield* sink.offer(range(5, 8))
        yield* TestClock.adjust("990 millis")
        expect(t.state.written).toEqual(range(0, 5))
        yield* TestClock.adjust("20 millis")
        expect(t.state.written).toEqual(range(0, 8))
        expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 0 })
      }).pipe(Effect.provide(layer)),
  )

  it.scoped(
    "records that came during a write go as soon as it ends (they waited for it), and one that came when idle lingers",
    () =>
      Effect.gen(function* () {
        const t = target()
        const slow = (batch: ReadonlyArray<number>) => Effect.zipRight(Effect.sleep("800 millis"), t.write(batch))
        const sink = yield* numberSink(tmp(), slow, lingering)
        yield* sink.offer(range(0, 5))
        yield* TestClock.adjust("100 millis")
        yield* sink.offer([5])
        // The first write ends at 800 ms; record 5, which came during it, goes at once and is written at 1,600 ms.
        yield* TestClock.adjust("700 millis")
        expect(t.state.written).toEqual(range(0, 5))
        yield* TestClock.adjust("790 millis")
        expect(t.state.written).toEqual(range(0, 5))
        yield* TestClock.adjust("20 millis")
        expect(t.state.written).toEqual(range(0, 6))
        // Idle now: a partial batch waits out its linger again.
        yield* sink.offer([6])
        yield* TestClock.adjust("1 second")
        expect(t.state.written).toEqual(range(0, 6))
        yield* TestClock.adjust("810 millis")
        expect(t.state.written).toEqual(range(0, 7))
      }).pipe(Effect.provide(layer)),
  )

  it.scoped("an outage with records on both sides of the disk buffer keeps their order on disk", () =>
    Effect.gen(function* () {
      const dir = tmp()
      const t = target()
      // The first write hangs until the test fails it, so that memory can be seen on both sides of the disk.
      const gate = yield* Deferred.make<void, SinkUnavailable>()
      let first = true
      const write = (batch: ReadonlyArray<number>) =>
        first
          ? Effect.suspend(() => {
              first = false
              return Deferred.await(gate).pipe(Effect.mapError((e) => new SinkUnavailable({ ...e, remaining: batch })))
            })
          : t.write(batch)
      const sink = yield* numberSink(dir, write, { batchSize: 5, memoryRecords: 10, maxBytes: 1 << 20 })
      // Memory full (0-9), the overflow on disk (10-11); the writer takes 0-4 and hangs.
      yield* sink.offer(range(0, 12))
      yield* TestClock.adjust("10 millis")
      // New records wait in memory behind the disk (12-14).
      yield* sink.offer(range(12, 15))
      expect(sink.status()).toMatchObject({ memoryRecords: 8, diskRecords: 2 })
      // The write fails: its batch and the memory before the disk go in front, the memory behind it at the end.
      t.state.up = false
      yield* Deferred.fail(gate, new SinkUnavailable({ sink: "test", reason: "target down", remaining: [] }))
      yield* TestClock.adjust("10 millis")
      expect(sink.status()).toMatchObject({ memoryRecords: 0, diskRecords: 15 })
      t.state.up = true
      yield* TestClock.adjust("30 seconds")
      expect(t.state.written).toEqual(range(0, 15))
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
