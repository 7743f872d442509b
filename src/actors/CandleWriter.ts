import { join } from "node:path"
import type { SqlError } from "@effect/sql"
import { Chunk, Clock, Data, Duration, Effect, Fiber, Mailbox, Metric, Schedule, Stream } from "effect"
import { AppConfig } from "../layers/AppConfig.js"
import { CandleStore } from "../layers/CandleStore.js"
import { makeDeadLetter } from "../layers/DeadLetter.js"
import { Health } from "../layers/Health.js"
import * as Metrics from "../layers/Metrics.js"
import type { Candle } from "../schema/Candle.js"
import { Supervisor } from "./Supervisor.js"

/** A batch PostgreSQL refused for its content (SQLSTATE classes 22, 23, 42): retrying cannot help. */
export class CandlesRejected extends Data.TaggedError("CandlesRejected")<{
  readonly sqlState: string
  readonly reason: string
}> {}

/** PostgreSQL could not be reached or was briefly unable to work; the same write will succeed later. */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{ readonly reason: string }> {}

const PERMANENT_CLASSES = new Set(["22", "23", "42"])

export const classifySqlError = (e: SqlError.SqlError): CandlesRejected | StoreUnavailable => {
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined
  const code = typeof cause?.code === "string" ? cause.code : ""
  const reason = typeof cause?.message === "string" ? cause.message : e.message
  return /^[0-9A-Z]{5}$/.test(code) && PERMANENT_CLASSES.has(code.slice(0, 2))
    ? new CandlesRejected({ sqlState: code, reason })
    : new StoreUnavailable({ reason: code === "" ? reason : `${code} ${reason}` })
}

/**
 * Store outages (PostgreSQL, InfluxDB) are waited out indefinitely: the mailbox fills meanwhile and pressure
 * reaches the feeds. At most 10 s between tries, so a store that comes back is written to again within seconds.
 */
export const storeRetrySchedule = Schedule.exponential("200 millis", 2).pipe(
  Schedule.union(Schedule.spaced("10 seconds")),
  Schedule.jittered,
)

const postgresLatency = Metric.tagged(Metric.tagged(Metrics.endToEndLatency, "sink", "postgres"), "kind", "candle")

/**
 * Counts candles PostgreSQL has accepted, and for first-time finals how long after their close (the last
 * exchange time they can hold) they were stored: the grace period plus the pipeline's own delay.
 */
export const recordStored = (candles: ReadonlyArray<Candle>) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) =>
    Effect.zipRight(
      Metric.incrementBy(Metric.tagged(Metrics.candlesStored, "sink", "postgres"), candles.length),
      Effect.forEach(
        candles.filter((c) => c.isFinal && c.revision === 0),
        (c) => Metric.update(postgresLatency, Duration.millis(Math.max(0, now - c.closeTime))),
        { discard: true },
      ),
    ),
  )

/**
 * The actor that persists candles: batches by size or time from a bounded mailbox, idempotent upserts, retries
 * while the database is unavailable, and bisection of a refused batch so one bad row lands in the dead-letter
 * file instead of blocking or dropping the rest.
 */
export class CandleWriter extends Effect.Service<CandleWriter>()("ingestd/CandleWriter", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* CandleStore
    const health = yield* Health
    const supervisor = yield* Supervisor
    const mailbox = yield* Mailbox.make<Candle>({ capacity: config.mailboxCapacity, strategy: "suspend" })
    const deadLetters = makeDeadLetter({
      sink: "postgres",
      dir: join(config.dataDir, "deadletter"),
      prefix: "candles",
      extension: "jsonl",
      fileMaxBytes: 64 * 1024 * 1024,
      totalMaxBytes: 512 * 1024 * 1024,
    })

    const deadLetter = (candles: ReadonlyArray<Candle>, error: CandlesRejected) => {
      const at = new Date().toISOString()
      return deadLetters.append(candles.map((candle) => `${JSON.stringify({ at, error, candle })}\n`).join("")).pipe(
        Effect.tap((file) =>
          Effect.logError(
            `PostgreSQL refused ${candles.length} candle(s) (${error.sqlState} ${error.reason}); written to ${file}`,
          ),
        ),
        Effect.zipRight(Metric.incrementBy(Metric.tagged(Metrics.deadLettered, "sink", "postgres"), candles.length)),
        Effect.orDie,
      )
    }

    const attempt = (candles: ReadonlyArray<Candle>) =>
      store.upsert(candles).pipe(
        Metric.trackDuration(Metric.tagged(Metrics.storeLatency, "sink", "postgres")),
        Effect.mapError(classifySqlError),
        Effect.tapError((e) =>
          Effect.all([
            Metric.increment(
              Metric.tagged(
                Metric.tagged(Metrics.storeFailures, "sink", "postgres"),
                "kind",
                e._tag === "CandlesRejected" ? "rejected" : "retryable",
              ),
            ),
            e._tag === "StoreUnavailable"
              ? Effect.zipRight(
                  health.set("store:postgres", "down", e.reason),
                  Effect.logWarning(`PostgreSQL unavailable (${e.reason}); retrying ${candles.length} candle(s)`),
                )
              : Effect.void,
          ]),
        ),
        Effect.retry({ schedule: storeRetrySchedule, while: (e) => e._tag === "StoreUnavailable" }),
      )

    const write = (candles: ReadonlyArray<Candle>): Effect.Effect<void> =>
      attempt(candles).pipe(
        Effect.zipRight(health.set("store:postgres", "up")),
        Effect.zipRight(recordStored(candles)),
        Effect.catchAll((e) => {
          if (e._tag !== "CandlesRejected") return Effect.die(e)
          if (candles.length === 1) return deadLetter(candles, e)
          const half = Math.ceil(candles.length / 2)
          return Effect.zipRight(write(candles.slice(0, half)), write(candles.slice(half)))
        }),
      )

    const writeBatch = (batch: Chunk.Chunk<Candle>) => {
      const candles = Chunk.toReadonlyArray(batch)
      return Metric.update(Metric.tagged(Metrics.storeBatchSize, "sink", "postgres"), candles.length).pipe(
        Effect.zipRight(write(candles)),
        Effect.withSpan("CandleWriter.flush", { attributes: { rows: candles.length } }),
      )
    }

    yield* health.set("store:postgres", "up")
    yield* health.watchMailbox("writer:candles", mailbox, config.mailboxCapacity)
    const fiber = yield* supervisor.spawn(
      "writer:candles",
      Mailbox.toStream(mailbox).pipe(
        Stream.groupedWithin(config.storeBatchSize, config.storeFlushInterval),
        Stream.runForEach(writeBatch),
      ),
    )
    yield* Effect.addFinalizer(() =>
      mailbox.end.pipe(
        Effect.zipRight(Fiber.await(fiber)),
        Effect.timeoutFail({
          duration: config.shutdownTimeout,
          onTimeout: () => new StoreUnavailable({ reason: "shutdown timeout" }),
        }),
        Effect.catchAll(() =>
          Effect.flatMap(mailbox.size, (left) =>
            Effect.logError(
              `candle writer did not finish within ${config.shutdownTimeout}: PostgreSQL unreachable; ${left._tag === "Some" ? left.value : "?"} queued candle(s) not stored`,
            ),
          ),
        ),
      ),
    )

    return { offer: (candles: ReadonlyArray<Candle>) => Effect.asVoid(mailbox.offerAll(candles)) } as const
  }),
}) {}
