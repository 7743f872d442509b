import { join } from "node:path"
import { sinkRetrySchedule } from "../../domain/Schedules.js"
import { Data, Deferred, Duration, Effect, Fiber, FiberId, Metric, Option, Runtime, Schedule } from "effect"
import { AppConfig } from "../../layers/AppConfig.js"
import { Health } from "../../layers/Health.js"
import * as Metrics from "../../layers/Metrics.js"
import { Supervisor } from "../Supervisor.js"
import { type DiskRead, DiskQueue } from "./DiskQueue.js"

/**
 * The target could not take the records now (down, unreachable, full, blocked); the same records will go through
 * later. `remaining` are the records of the attempt not yet delivered: the next attempt sends only those.
 */
export class SinkUnavailable extends Data.TaggedError("SinkUnavailable")<{
  readonly sink: string
  readonly reason: string
  readonly remaining: ReadonlyArray<unknown>
  /** From the target's own answer (Retry-After), when it gave one. */
  readonly retryAfterMs?: number | undefined
}> {}

/** How a sink's records are written to its disk buffer and read back. */
export interface SpillCodec<R> {
  readonly encode: (record: R) => string
  /** Undefined for a line that is not a record (a corrupt file): it is counted and skipped, never fatal. */
  readonly decode: (line: string) => R | undefined
}

/** What a sink is: everything else (buffers, spilling, retries, metrics, health, shutdown) is the runtime's. */
export interface SinkSpec<R> {
  /** As in metrics, logs, health (`sink:<name>`) and the spill directory. */
  readonly name: string
  /** The component /readyz reports as up or down with the target, e.g. `store:postgres`. */
  readonly component: string
  readonly batchSize: number
  /** A batch smaller than `batchSize` waits this long for more before it is written. */
  readonly linger: Duration.Duration
  /** Records kept in memory; past that they spill to disk, or (no `spill`) the producers wait. */
  readonly memoryRecords: number
  /** Undefined for a sink that must never spill (say why where it is defined). */
  readonly spill: (SpillCodec<R> & { readonly dir: string; readonly maxBytes: number }) | undefined
  /**
   * One attempt at writing the batch. It fails with SinkUnavailable only for what may go through later; what the
   * target refuses for good the sink dead-letters itself (see `writeSplitting`), and may report as `refused`, which
   * marks the target down (a revoked token refuses everything) until a write goes through whole.
   */
  readonly write: (batch: ReadonlyArray<R>) => Effect.Effect<SinkWritten, SinkUnavailable>
}

export type SinkWritten = void | { readonly refused: string }

export interface SinkStatus {
  readonly name: string
  readonly memoryRecords: number
  readonly memoryCapacity: number
  readonly diskRecords: number
  readonly diskBytes: number
  readonly diskMaxBytes: number
  /** Whether producers are waiting because every buffer is full. */
  readonly backPressure: boolean
  /** Records of the batch being written now (no longer in `memoryRecords`). */
  readonly writing: number
}

export interface Sink<R> {
  readonly name: string
  /** Takes the records; suspends only when the memory and the disk buffer are both full. */
  readonly offer: (records: ReadonlyArray<R>) => Effect.Effect<void>
  readonly status: () => SinkStatus
}

/**
 * A wake-up between fibers of one sink. Waiting is decided synchronously right after the state was checked, so a
 * signal fired before the wait began never leaves the waiter asleep.
 */
class Signal {
  private deferred = Deferred.unsafeMake<void>(FiberId.none)
  private fired = false
  fire(): void {
    if (this.fired) return
    this.fired = true
    Deferred.unsafeDone(this.deferred, Effect.void)
  }
  get wait(): Effect.Effect<void> {
    if (this.fired) {
      this.deferred = Deferred.unsafeMake<void>(FiberId.none)
      this.fired = false
    }
    return Deferred.await(this.deferred)
  }
}

/** Where a sink named `name` spills under DATA_DIR. */
export const spillDir = (dataDir: string, name: string) => join(dataDir, "spill", name)

/**
 * A sink's actor: a bounded memory buffer, then a bounded disk buffer (written in order, replayed in order), and
 * one writer fiber. Memory is two queues around the disk buffer, delivered in this order: `head` (older than
 * everything on disk), the disk buffer, then `tail` (records that came while the disk buffer held some). Only what
 * overflows memory is encoded to disk: a sink that spilled once and keeps up again drains its disk buffer while new
 * records wait in `tail`, instead of sending all of them through the disk until it is empty.
 * When a write from memory fails, that batch and `head` move to the front of the disk buffer, and `tail` to its end,
 * before the retries start, so that an outage's data is on disk and a `kill -9` meanwhile loses nothing; the
 * restart delivers it. Records are delivered at least once: targets must be idempotent by key.
 */
export const makeSink = <R>(spec: SinkSpec<R>) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const supervisor = yield* Supervisor
    // Records are read from disk in plain functions; their log lines still go through the daemon's logger.
    const log = Runtime.runFork(yield* Effect.runtime<never>())
    const label = <T, I, O>(m: Metric.Metric<T, I, O>) => Metric.tagged(m, "sink", spec.name)

    const spill = spec.spill
    const opened =
      spill === undefined
        ? undefined
        : yield* Effect.try({
            try: () => DiskQueue.open(spill.dir, spill.maxBytes),
            catch: (e) =>
              new Error(
                `sink ${spec.name}: cannot open its disk buffer in ${spill.dir} (${e instanceof Error ? e.message : String(e)}); check that DATA_DIR is writable`,
              ),
          }).pipe(Effect.orDie)
    const disk = opened?.queue
    if (opened !== undefined && opened.recovery.tornBytes > 0)
      yield* Effect.logWarning(
        `sink ${spec.name}: dropped ${opened.recovery.tornBytes} byte(s) of a record cut short by a crash in ${spec.spill!.dir}`,
      )
    if (disk !== undefined && !disk.isEmpty)
      yield* Effect.logInfo(
        `sink ${spec.name}: replaying ${disk.records} record(s) (${disk.bytes} bytes) a previous run left in ${disk.dir}`,
      )

    let head: Array<R> = []
    let tail: Array<R> = []
    /** When the oldest record of `head` and of `tail` came: the linger counts from there, not from the last write. */
    let headSince = 0
    let tailSince = 0
    /**
     * The oldest record of `head` came while a write was in flight, or waited behind the disk buffer. It has waited
     * for a batch to form already, so it goes as soon as the writer is free: the linger gathers a batch only while
     * the sink is idle, and a busy sink's batches grow with its write time instead of adding the linger to it.
     */
    let headWaited = false
    /**
     * The last write failed and none has gone through since. Meanwhile every record goes to disk, memory's `tail`
     * included, so that a `kill -9` during an outage loses nothing; `tail` serves only a sink that is up again and
     * draining its disk buffer.
     */
    let targetDown = false
    const clock = yield* Effect.clock
    const lingerMs = Duration.toMillis(spec.linger)
    /** The batch being written, so that a restarted writer or the shutdown does not lose it. */
    let inflight: { readonly records: ReadonlyArray<R>; readonly read: DiskRead | undefined } | undefined
    let ended = false
    let waiting = false
    let fullLogged = false
    const dataReady = new Signal()
    const batchReady = new Signal()
    const room = new Signal()
    // A lingering writer stops waiting once a whole batch is there, or memory is full: at a high rate, sleeping out
    // the linger would fill memory and spill to disk records a write could have taken at once.
    const fullBatch = Math.min(spec.batchSize, spec.memoryRecords)
    const wakeWriter = () => {
      dataReady.fire()
      if (ended || head.length >= fullBatch) batchReady.fire()
    }
    const wakeProducers = () => room.fire()

    const spilled = label(Metrics.sinkSpilled)
    const corrupt = label(Metrics.sinkCorruptRecords)

    /** Once the disk buffer is empty, `tail` directly follows `head`. */
    const joinTail = () => {
      if (tail.length === 0 || (disk !== undefined && !disk.isEmpty)) return
      if (head.length === 0) {
        headSince = tailSince
        headWaited = true
      }
      head = head.length === 0 ? tail : head.concat(tail)
      tail = []
    }

    /** Takes what fits now and returns the rest, which waits for room. */
    const accept = (records: ReadonlyArray<R>): ReadonlyArray<R> => {
      joinTail()
      const toHead = disk === undefined || disk.isEmpty
      const into = toHead ? head : tail
      const n =
        targetDown && disk !== undefined ? 0 : Math.min(spec.memoryRecords - head.length - tail.length, records.length)
      if (into.length === 0 && n > 0) {
        if (toHead) {
          headSince = clock.unsafeCurrentTimeMillis()
          headWaited = inflight !== undefined
        } else tailSince = clock.unsafeCurrentTimeMillis()
      }
      for (let i = 0; i < n; i++) into.push(records[i]!)
      if (n > 0) wakeWriter()
      if (n === records.length) return []
      const rest = records.slice(n)
      if (disk === undefined) return rest
      // Memory is full (or the target down): what spills is the records not older than the disk's, `tail` first.
      const lines = tail.length === 0 ? rest.map(spec.spill!.encode) : [...tail, ...rest].map(spec.spill!.encode)
      let bytes = 0
      for (const l of lines) bytes += l.length + 1
      if (!disk.fits(bytes)) return rest
      disk.append(lines)
      tail = []
      Effect.runSync(Metric.incrementBy(spilled, lines.length))
      wakeWriter()
      return []
    }

    const offer = (records: ReadonlyArray<R>): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (records.length === 0) return Effect.void
        const rest = accept(records)
        if (rest.length === 0) {
          if (waiting) {
            waiting = false
            fullLogged = false
          }
          return Effect.void
        }
        waiting = true
        const wait = room.wait
        return Effect.zipRight(
          fullLogged
            ? wait
            : Effect.zipRight(
                Effect.all([
                  Effect.sync(() => (fullLogged = true)),
                  Metric.increment(label(Metrics.sinkBackPressure)),
                  Effect.logWarning(
                    disk === undefined
                      ? `sink ${spec.name}: memory buffer full (${spec.memoryRecords} records); producers wait, and the feeds slow down`
                      : `sink ${spec.name}: disk buffer full (${disk.bytes} of ${disk.maxBytes} bytes in ${disk.dir}); back-pressure reaches the feeds until the sink catches up`,
                  ),
                ]),
                wait,
              ),
          offer(rest),
        )
      })

    const decodeAll = (read: DiskRead): Array<R> => {
      const out: Array<R> = []
      let bad = 0
      for (const line of read.lines) {
        const r = spec.spill!.decode(line)
        if (r === undefined) bad++
        else out.push(r)
      }
      if (bad > 0) {
        Effect.runSync(Metric.incrementBy(corrupt, bad))
        log(Effect.logError(`sink ${spec.name}: skipped ${bad} unreadable record(s) in the disk buffer ${disk!.dir}`))
      }
      return out
    }

    /** The next batch: `head`, then disk, then `tail`; undefined once ended and all are empty. */
    const take: Effect.Effect<{ readonly records: ReadonlyArray<R>; readonly read: DiskRead | undefined } | undefined> =
      Effect.suspend(() => {
        joinTail()
        if (head.length > 0) {
          const lingerLeft = lingerMs - (clock.unsafeCurrentTimeMillis() - headSince)
          const partial = head.length < fullBatch && !ended && !headWaited && lingerLeft > 0
          return Effect.zipRight(
            partial ? Effect.raceFirst(Effect.sleep(Duration.millis(lingerLeft)), batchReady.wait) : Effect.void,
            Effect.sync(() => {
              const records = head.length <= spec.batchSize ? head : head.slice(0, spec.batchSize)
              head = head.length <= spec.batchSize ? [] : head.slice(spec.batchSize)
              headWaited = true
              wakeProducers()
              return { records, read: undefined }
            }),
          )
        }
        if (disk !== undefined && !disk.isEmpty) {
          const read = disk.read(spec.batchSize)!
          return Effect.succeed({ records: decodeAll(read), read })
        }
        if (ended) return Effect.succeed(undefined)
        return Effect.zipRight(dataReady.wait, take)
      })

    /** Moves `tail` to the end of the disk buffer; returns how many records it moved. */
    const spillTail = () => {
      const moved = tail.length
      if (moved > 0) disk!.append(tail.map(spec.spill!.encode))
      tail = []
      return moved
    }

    /** Moves the batch being written and `head` to the front of the disk buffer, and `tail` to its end. */
    const persistInflight = (records: ReadonlyArray<R>) => {
      const front = [...records, ...head].map(spec.spill!.encode)
      head = []
      disk!.pushFront(front)
      const moved = front.length + spillTail()
      inflight = undefined
      wakeProducers()
      return moved
    }

    const storeFailures = Metric.tagged(label(Metrics.storeFailures), "kind", "retryable")

    const deliver = (batch: { readonly records: ReadonlyArray<R>; readonly read: DiskRead | undefined }) =>
      Effect.gen(function* () {
        inflight = batch
        const driver = yield* Schedule.driver(sinkRetrySchedule)
        let remaining = batch.records
        let refused: string | undefined
        while (remaining.length > 0) {
          const outcome = yield* Effect.either(spec.write(remaining))
          if (outcome._tag === "Right") {
            targetDown = false
            refused = outcome.right?.refused
            break
          }
          const e = outcome.left
          targetDown = true
          yield* Metric.increment(storeFailures)
          yield* health.set(spec.component, "down", e.reason)
          if (disk !== undefined && spillTail() > 0) wakeProducers()
          if (batch.read === undefined && disk !== undefined) {
            const moved = persistInflight(e.remaining as ReadonlyArray<R>)
            yield* Effect.logWarning(
              `sink ${spec.name}: ${e.reason}; ${moved} record(s) moved to the disk buffer ${disk.dir}, retrying from there`,
            )
            return
          }
          yield* Effect.logWarning(
            `sink ${spec.name}: ${e.reason}; retrying ${e.remaining.length} record(s)${disk === undefined ? "" : ` (${disk.records} more on disk)`}`,
          )
          if (e.retryAfterMs !== undefined) yield* Effect.sleep(Duration.millis(e.retryAfterMs))
          yield* driver.next(undefined).pipe(Effect.ignore)
          remaining = e.remaining as ReadonlyArray<R>
        }
        if (batch.read !== undefined) disk!.commit(batch.read)
        inflight = undefined
        wakeProducers()
        yield* refused === undefined ? health.set(spec.component, "up") : health.set(spec.component, "down", refused)
      })

    const writer = Effect.gen(function* () {
      // A batch a crashed incarnation was writing goes first.
      const unfinished = inflight
      if (unfinished !== undefined) yield* deliver(unfinished)
      while (true) {
        const batch = yield* take
        if (batch === undefined) return
        yield* deliver(batch)
      }
    })

    const actor = `sink:${spec.name}`
    yield* health.set(spec.component, "up")
    yield* health.watchMailbox(actor, { unsafeSize: () => Option.some(head.length + tail.length) }, spec.memoryRecords)
    yield* health.watchGauges(
      Effect.suspend(() =>
        Effect.all([
          Metric.set(label(Metrics.sinkDiskRecords), disk?.records ?? 0),
          Metric.set(label(Metrics.sinkDiskBytes), disk?.bytes ?? 0),
        ]),
      ),
    )
    const fiber = yield* supervisor.spawn(actor, writer)

    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        ended = true
        wakeWriter()
        const drained = yield* Fiber.await(fiber).pipe(Effect.timeout(config.shutdownTimeout), Effect.option)
        if (Option.isNone(drained)) yield* Fiber.interrupt(fiber)
        const left = (inflight?.read === undefined ? (inflight?.records.length ?? 0) : 0) + head.length + tail.length
        if (left > 0) {
          if (disk !== undefined) {
            persistInflight(inflight?.read === undefined ? (inflight?.records ?? []) : [])
            yield* Effect.logWarning(
              `sink ${spec.name}: not written within ${Duration.format(config.shutdownTimeout)}; ${left} record(s) kept in ${disk.dir} for the next start`,
            )
          } else
            yield* Effect.logError(
              `sink ${spec.name}: not written within ${Duration.format(config.shutdownTimeout)}; ${left} record(s) lost`,
            )
        }
        disk?.close()
      }),
    )

    const status = (): SinkStatus => ({
      name: spec.name,
      memoryRecords: head.length + tail.length,
      memoryCapacity: spec.memoryRecords,
      diskRecords: disk?.records ?? 0,
      diskBytes: disk?.bytes ?? 0,
      diskMaxBytes: disk?.maxBytes ?? 0,
      backPressure: waiting,
      writing: inflight?.records.length ?? 0,
    })
    return { name: spec.name, offer, status } satisfies Sink<R>
  })

/**
 * Writes a batch through `attempt`, isolating what the target refuses for good: a refused batch is halved (where
 * `splittable` says halving can help) down to single records, which go to `refuse` (the sink's dead-letter path),
 * so one bad record never takes its batch with it. Returns the refusals. An outage in the middle fails with the
 * records not yet written.
 */
export const writeSplitting = <R, E extends { readonly _tag: string }>(
  records: ReadonlyArray<R>,
  attempt: (rs: ReadonlyArray<R>) => Effect.Effect<void, SinkUnavailable | E>,
  splittable: (e: E) => boolean,
  refuse: (rs: ReadonlyArray<R>, e: E) => Effect.Effect<void>,
): Effect.Effect<ReadonlyArray<{ readonly records: ReadonlyArray<R>; readonly error: E }>, SinkUnavailable> =>
  attempt(records).pipe(
    Effect.as([] as ReadonlyArray<{ readonly records: ReadonlyArray<R>; readonly error: E }>),
    Effect.catchAll((e) => {
      if (e._tag === "SinkUnavailable") return Effect.fail(e as SinkUnavailable)
      const error = e as E
      if (records.length === 1 || !splittable(error)) return Effect.as(refuse(records, error), [{ records, error }])
      const half = Math.ceil(records.length / 2)
      const second = records.slice(half)
      return writeSplitting(records.slice(0, half), attempt, splittable, refuse).pipe(
        Effect.catchAll((u) => Effect.fail(new SinkUnavailable({ ...u, remaining: [...u.remaining, ...second] }))),
        Effect.flatMap((a) => Effect.map(writeSplitting(second, attempt, splittable, refuse), (b) => [...a, ...b])),
      )
    }),
  )
