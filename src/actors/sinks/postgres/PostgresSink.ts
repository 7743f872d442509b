import { join } from "node:path"
import type * as SqlError from "@effect/sql/SqlError"
import { Clock, Data, Duration, Effect, Metric, Schema } from "effect"
import { AppConfig } from "../../../layers/AppConfig.js"
import { CandleStore } from "../../../layers/CandleStore.js"
import { Fleet } from "../../Fleet.js"
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
 * One PostgreSQL sink's write: an upsert whose unavailability is SinkUnavailable (the batch goes again later), and
 * whose refusal is bisected down to the rows refused, which go to `DATA_DIR/deadletter/<prefix>-*.jsonl` with the
 * error, one log line and a count; never blocking the rest, never dropped silently.
 */
export const postgresWriter = <R>(spec: {
  readonly sink: string
  /** The dead-letter files' prefix, the records' name in them, and in the log line (plural). */
  readonly prefix: string
  readonly field: string
  readonly noun: string
  readonly upsert: (records: ReadonlyArray<R>) => Effect.Effect<void, SqlError.SqlError>
  readonly onStored: (records: ReadonlyArray<R>) => Effect.Effect<void>
}) =>
  Effect.map(AppConfig, (config) => {
    const deadLetters = makeDeadLetter({
      sink: spec.sink,
      dir: join(config.dataDir, "deadletter"),
      prefix: spec.prefix,
      extension: "jsonl",
      fileMaxBytes: 64 * 1024 * 1024,
      totalMaxBytes: 512 * 1024 * 1024,
    })
    const label = <T, I, O>(m: Metric.Metric<T, I, O>) => Metric.tagged(m, "sink", spec.sink)
    const refuse = (records: ReadonlyArray<R>, error: CandlesRejected) => {
      const at = new Date().toISOString()
      return deadLetters
        .append(records.map((record) => `${JSON.stringify({ at, error, [spec.field]: record })}\n`).join(""))
        .pipe(
          Effect.tap((file) =>
            Effect.logError(
              `PostgreSQL refused ${records.length} ${spec.noun} (${error.sqlState} ${error.reason}); written to ${file}`,
            ),
          ),
          Effect.zipRight(Metric.incrementBy(label(Metrics.deadLettered), records.length)),
          Effect.orDie,
        )
    }
    const attempt = (records: ReadonlyArray<R>) =>
      spec.upsert(records).pipe(
        Metric.trackDuration(label(Metrics.storeLatency)),
        Effect.mapError(classifySqlError),
        Effect.tapError((e) =>
          e._tag === "CandlesRejected"
            ? Metric.increment(Metric.tagged(label(Metrics.storeFailures), "kind", "rejected"))
            : Effect.void,
        ),
        Effect.catchTag("StoreUnavailable", (e) =>
          Effect.fail(
            new SinkUnavailable({
              sink: spec.sink,
              reason: `PostgreSQL unavailable (${e.reason})`,
              remaining: records,
            }),
          ),
        ),
        Effect.tap(() => spec.onStored(records)),
      )
    return (records: ReadonlyArray<R>) =>
      Metric.update(label(Metrics.storeBatchSize), records.length).pipe(
        Effect.zipRight(writeSplitting(records, attempt, () => true, refuse)),
        Effect.asVoid,
      )
  })

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
    const { fence } = yield* Fleet
    // A shared fleet's member writes only the symbols it holds leases for; what it no longer holds was the next
    // owner's to write, and is dropped here with a count and a line.
    const upsert =
      fence === undefined
        ? store.upsert
        : (cs: ReadonlyArray<Candle>) =>
            Effect.tap(store.upsertFenced(cs, fence), (fenced) =>
              fenced === 0
                ? Effect.void
                : Effect.zipRight(
                    Metric.incrementBy(Metrics.fleetFencedCandles, fenced),
                    Effect.logWarning(
                      `fleet ${fence.fleet}: ${fenced} candle(s) not written: ${fence.member} no longer holds their symbols' leases (fencing)`,
                    ),
                  ),
            )
    const write = yield* postgresWriter<Candle>({
      sink: "postgres",
      prefix: "candles",
      field: "candle",
      noun: "candle(s)",
      upsert,
      onStored: recordStored,
    })

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
        write(candles).pipe(Effect.withSpan("CandleWriter.flush", { attributes: { rows: candles.length } })),
    })
    return { name: sink.name, status: sink.status, candles: (cs) => sink.offer(cs) }
  }),
} satisfies SinkPlugin
