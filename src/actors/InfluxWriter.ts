import { join } from "node:path"
import { Chunk, Deferred, Duration, Effect, Fiber, Mailbox, Metric, Stream } from "effect"
import { AppConfig, type InfluxSettings } from "../layers/AppConfig.js"
import type { DeadLetter } from "../layers/DeadLetter.js"
import { makeDeadLetter } from "../layers/DeadLetter.js"
import { Health } from "../layers/Health.js"
import { Influx, type InfluxRejected, type InfluxTarget, rejectionHint } from "../layers/Influx.js"
import * as Metrics from "../layers/Metrics.js"
import { storeRetrySchedule } from "./CandleWriter.js"
import { Supervisor } from "./Supervisor.js"

/** A line whose writer waits for its outcome (a signal is acked only once it is stored). */
interface Awaited {
  readonly line: string
  readonly done: Deferred.Deferred<void, InfluxRejected>
}

type Entry = string | Awaited

interface Refusal {
  readonly lines: ReadonlyArray<string>
  readonly error: InfluxRejected
}

export interface InfluxWriterSpec {
  /** `market` (ticks and candles) or `signals`: metrics, health and logs name it. */
  readonly name: string
  readonly batchLines: number
  readonly flushInterval: Duration.Duration
}

const HEALTH = "store:influx"

/**
 * The actor that owns writing to InfluxDB: batches by size or time from a bounded mailbox (so a slow or absent
 * InfluxDB suspends the producers and back-pressure reaches the feeds), one request per batch, retries of what is
 * retryable on `storeRetrySchedule` (honouring Retry-After) for as long as the outage lasts, and for a refusal a
 * split (413 always; 400/422 to isolate the bad lines, since the rest of a batch is fine to write again) down to
 * the lines refused, which go to the dead-letter file with the error. Nothing is dropped without a trace.
 */
export const runInfluxWriter = (
  target: InfluxTarget,
  deadLetter: DeadLetter,
  health: Health,
  mailbox: Mailbox.ReadonlyMailbox<Entry>,
  spec: InfluxWriterSpec,
) =>
  Effect.gen(function* () {
    const tag = <T, In, O>(m: Metric.Metric<T, In, O>) =>
      Metric.tagged(Metric.tagged(m, "sink", "influx"), "writer", spec.name)

    const refuse = (lines: ReadonlyArray<string>, error: InfluxRejected) => {
      const header = `# ${new Date().toISOString()} InfluxDB refused ${lines.length} line(s): ${error.reason.replace(/\s+/g, " ")}\n`
      return deadLetter.append(`${header}${lines.join("\n")}\n`).pipe(
        Effect.tap((file) =>
          Effect.logError(
            `InfluxDB refused ${lines.length} ${spec.name} line(s) (${error.reason}; ${rejectionHint(error.status)}); written to ${file}`,
          ),
        ),
        Effect.zipRight(Metric.incrementBy(tag(Metrics.deadLettered), lines.length)),
        Effect.orDie,
        Effect.as([{ lines, error }] as ReadonlyArray<Refusal>),
      )
    }

    const attempt = (lines: ReadonlyArray<string>) =>
      target.write(lines).pipe(
        Metric.trackDuration(Metric.tagged(Metrics.storeLatency, "sink", "influx")),
        Effect.tapError((e) =>
          Effect.all([
            Metric.increment(
              Metric.tagged(tag(Metrics.storeFailures), "kind", e._tag === "InfluxRejected" ? "rejected" : "retryable"),
            ),
            e._tag === "InfluxUnavailable"
              ? Effect.all([
                  health.set(HEALTH, "down", e.reason),
                  Effect.logWarning(
                    `InfluxDB unavailable (${e.reason}); retrying ${lines.length} ${spec.name} line(s)`,
                  ),
                  e.retryAfterMs === undefined ? Effect.void : Effect.sleep(Duration.millis(e.retryAfterMs)),
                ])
              : health.set(HEALTH, "down", `refused: ${e.reason}; ${rejectionHint(e.status)}`),
          ]),
        ),
        Effect.retry({ schedule: storeRetrySchedule, while: (e) => e._tag === "InfluxUnavailable" }),
      )

    /** Writes the lines; returns those refused for good (already dead-lettered). */
    const write = (lines: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Refusal>> =>
      attempt(lines).pipe(
        Effect.zipRight(health.set(HEALTH, "up")),
        Effect.zipRight(
          Metric.incrementBy(Metric.tagged(Metrics.influxLinesWritten, "writer", spec.name), lines.length),
        ),
        Effect.as([] as ReadonlyArray<Refusal>),
        Effect.catchAll((e) => {
          if (e._tag !== "InfluxRejected") return Effect.die(e)
          const splittable = lines.length > 1 && (e.status === 413 || e.status === 400 || e.status === 422)
          if (!splittable) return refuse(lines, e)
          const half = Math.ceil(lines.length / 2)
          return Effect.zipWith(write(lines.slice(0, half)), write(lines.slice(half)), (a, b) => [...a, ...b])
        }),
      )

    const flush = (batch: Chunk.Chunk<Entry>) =>
      Effect.gen(function* () {
        const lines: Array<string> = []
        const waiters: Array<Awaited> = []
        for (const e of batch) {
          if (typeof e === "string") lines.push(e)
          else {
            lines.push(e.line)
            waiters.push(e)
          }
        }
        yield* Metric.update(Metric.tagged(Metrics.storeBatchSize, "sink", "influx"), lines.length)
        const refused = yield* write(lines)
        if (waiters.length === 0) return
        const failed = new Map<string, InfluxRejected>()
        for (const r of refused) for (const l of r.lines) failed.set(l, r.error)
        for (const w of waiters) {
          const error = failed.get(w.line)
          yield* error === undefined ? Deferred.succeed(w.done, undefined) : Deferred.fail(w.done, error)
        }
      }).pipe(Effect.withSpan("InfluxWriter.flush", { attributes: { writer: spec.name, lines: batch.length } }))

    yield* Mailbox.toStream(mailbox).pipe(
      Stream.groupedWithin(spec.batchLines, spec.flushInterval),
      Stream.runForEach(flush),
    )
  }).pipe(Effect.annotateLogs("actor", `writer:influx:${spec.name}`))

export interface InfluxSink {
  /** Queues lines for writing; suspends while the writer is full. */
  readonly offer: (lines: ReadonlyArray<string>) => Effect.Effect<void>
  /** Writes one line and returns once InfluxDB has it, or fails with the refusal. */
  readonly write: (line: string) => Effect.Effect<void, InfluxRejected>
}

/** A supervised InfluxDB writer with its own mailbox and connection; drains on shutdown within the time limit. */
export const makeInfluxSink = (target: InfluxTarget, settings: InfluxSettings, spec: InfluxWriterSpec) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    const health = yield* Health
    const deadLetter = makeDeadLetter({
      sink: "influx",
      dir: join(config.dataDir, "influx-deadletter"),
      prefix: spec.name,
      extension: "lp",
      fileMaxBytes: Math.min(64 * 1024 * 1024, settings.deadLetterMaxBytes),
      totalMaxBytes: settings.deadLetterMaxBytes,
    })
    // Two batches' worth: the producers keep filling the next batch while one is being written.
    const mailbox = yield* Mailbox.make<Entry>({ capacity: 2 * spec.batchLines, strategy: "suspend" })
    yield* health.set(HEALTH, "up")
    yield* health.watchMailbox(`writer:influx:${spec.name}`, mailbox, 2 * spec.batchLines)
    const fiber = yield* supervisor.spawn(
      `writer:influx:${spec.name}`,
      runInfluxWriter(target, deadLetter, health, mailbox, spec),
    )
    yield* Effect.addFinalizer(() =>
      mailbox.end.pipe(
        Effect.zipRight(Fiber.await(fiber)),
        Effect.timeout(config.shutdownTimeout),
        Effect.catchAll(() =>
          Effect.flatMap(mailbox.size, (left) =>
            Effect.logError(
              `InfluxDB ${spec.name} writer did not finish within ${Duration.format(config.shutdownTimeout)}: ${left._tag === "Some" ? left.value : "?"} queued line(s) not written`,
            ),
          ),
        ),
      ),
    )
    const sink: InfluxSink = {
      offer: (lines) => (lines.length === 0 ? Effect.void : Effect.asVoid(mailbox.offerAll(lines))),
      write: (line) =>
        Effect.flatMap(Deferred.make<void, InfluxRejected>(), (done) =>
          Effect.zipRight(mailbox.offer({ line, done }), Deferred.await(done)),
        ),
    }
    return sink
  })

/**
 * The market-data writer (ticks and candles), present when INFLUX_URL is set. Signals get a writer of their own
 * (see SignalsConsumer), so an acked signal never waits behind a backlog of ticks.
 */
export class InfluxWriter extends Effect.Service<InfluxWriter>()("ingestd/InfluxWriter", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const influx = yield* Influx
    if (influx.target._tag === "None" || config.influx._tag === "None")
      return { sink: undefined as InfluxSink | undefined }
    const target = yield* influx.target.value(config.influx.value.batchLines)
    const sink = yield* makeInfluxSink(target, config.influx.value, {
      name: "market",
      batchLines: config.influx.value.batchLines,
      flushInterval: config.influx.value.flushInterval,
    })
    return { sink }
  }),
}) {}
