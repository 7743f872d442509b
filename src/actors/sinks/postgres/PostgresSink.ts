import { join } from "node:path"
import type * as SqlError from "@effect/sql/SqlError"
import { Clock, Data, Duration, Effect, Metric, Schema } from "effect"
import { AppConfig } from "../../../layers/AppConfig.js"
import { CandleStore } from "../../../layers/CandleStore.js"
import { makeDeadLetter } from "../../../layers/DeadLetter.js"
import * as Metrics from "../../../layers/Metrics.js"
import { Candle } from "../../../schema/Candle.js"
import type { SinkPlugin } from "../registry.js"
import { makeSink, SinkUnavailable, spillDir, writeSplitting } from "../Sink.js"

/** A batch PostgreSQL refused for its content (SQLSTATE classes 22, 23, 42): retrying cannot help. */
export class CandlesRejected extends Data.TaggedError("CandlesRejected")<{
  readonly sqlState: string
  readonly reason: string
  readonly cause: SqlError.SqlError
}> {}

/** PostgreSQL could not be reached or was briefly unable to work; the same write will succeed later. */
export class StoreUnavailable extends Data.TaggedError("StoreUnavailable")<{
  readonly reason: string
  readonly cause: SqlError.SqlError
}> {}

const PERMANENT_CLASSES = new Set(["22", "23", "42"])

export const classifySqlError = (e: SqlError.SqlError): CandlesRejected | StoreUnavailable => {
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined
  const code = typeof cause?.code === "string" ? cause.code : ""
  const reason = typeof cause?.message === "string" ? cause.message : e.message
  return /^[0-9A-Z]{5}$/.test(code) && PERMANENT_CLASSES.has(code.slice(0, 2))
    ? new CandlesRejected({ sqlState: code, reason, cause: e })
    : new StoreUnavailable({ reason: code === "" ? reason : `${code} ${reason}`, cause: e })
}

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

const decodeCandle = Schema.decodeUnknownOption(Schema.parseJson(Candle))

/**
 * Candles to PostgreSQL (`CANDLE_SINK=direct`): idempotent upserts by natural key, ordered by (is_final, revision),
 * so a replay from the disk buffer never overwrites a newer version; a batch PostgreSQL refuses is bisected so the
 * one bad row lands in `DATA_DIR/deadletter/candles-*.jsonl` instead of blocking or dropping the rest.
 */
export const PostgresSink = {
  name: "postgres",
  make: Effect.gen(function* () {
    const config = yield* AppConfig
    if (config.candleSink !== "direct") return undefined
    const store = yield* CandleStore
    const deadLetters = makeDeadLetter({
      sink: "postgres",
      dir: join(config.dataDir, "deadletter"),
      prefix: "candles",
      extension: "jsonl",
      fileMaxBytes: 64 * 1024 * 1024,
      totalMaxBytes: 512 * 1024 * 1024,
    })

    const refuse = (candles: ReadonlyArray<Candle>, error: CandlesRejected) => {
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
          e._tag === "CandlesRejected"
            ? Metric.increment(
                Metric.tagged(Metric.tagged(Metrics.storeFailures, "sink", "postgres"), "kind", "rejected"),
              )
            : Effect.void,
        ),
        Effect.catchTag("StoreUnavailable", (e) =>
          Effect.fail(
            new SinkUnavailable({
              sink: "postgres",
              reason: `PostgreSQL unavailable (${e.reason})`,
              remaining: candles,
            }),
          ),
        ),
        Effect.tap(() => recordStored(candles)),
      )

    const sink = yield* makeSink<Candle>({
      name: "postgres",
      component: "store:postgres",
      batchSize: config.storeBatchSize,
      linger: config.storeFlushInterval,
      memoryRecords: config.sinkBuffer.memoryRecords,
      spill: {
        dir: spillDir(config.dataDir, "postgres"),
        maxBytes: config.sinkBuffer.diskMaxBytes,
        encode: (c) => JSON.stringify(c),
        decode: (line) => decodeCandle(line).pipe((o) => (o._tag === "Some" ? o.value : undefined)),
      },
      write: (candles) =>
        Metric.update(Metric.tagged(Metrics.storeBatchSize, "sink", "postgres"), candles.length).pipe(
          Effect.zipRight(writeSplitting(candles, attempt, () => true, refuse)),
          Effect.withSpan("CandleWriter.flush", { attributes: { rows: candles.length } }),
          Effect.asVoid,
        ),
    })
    return { name: sink.name, status: sink.status, candles: (cs) => sink.offer(cs) }
  }),
} satisfies SinkPlugin
