import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import { Clock, Duration, Effect, Layer, Metric, Schedule } from "effect"
import { retentionOf } from "../domain/Retention.js"
import { AppConfig } from "../layers/AppConfig.js"
import * as Metrics from "../layers/Metrics.js"

/** The tables with a row per candle (bigint open time in ms, a timeframe column), which retention applies to. */
const TABLES = ["ohlcv_candles", "indicators"] as const

/**
 * One pass: for each table and each configured timeframe with a limit, rows opened before now − limit are deleted
 * `batchRows` at a time (short transactions, no long lock), until none is left; `ingestion_metrics` goes by 1m's
 * limit. Returns the rows deleted per table.
 */
export const runRetention = Effect.fn("Retention.run")(function* () {
  const config = yield* AppConfig
  const sql = yield* SqlClient.SqlClient
  const now = yield* Clock.currentTimeMillis
  /** Deletes `table`'s rows matching `expired`, batchRows at a time; returns how many. */
  const deleteExpired = (table: string, timeframe: string, expired: Statement.Fragment) =>
    Effect.gen(function* () {
      let deleted = 0
      for (;;) {
        const rows = yield* sql<{ n: number }>`
          WITH doomed AS (SELECT ctid FROM ${sql(table)} WHERE ${expired} LIMIT ${config.retention.batchRows})
          DELETE FROM ${sql(table)} WHERE ctid IN (SELECT ctid FROM doomed)
          RETURNING 1 AS n`
        deleted += rows.length
        yield* Metric.incrementBy(
          Metric.tagged(Metric.tagged(Metrics.retentionDeleted, "table", table), "timeframe", timeframe),
          rows.length,
        )
        if (rows.length < config.retention.batchRows) return deleted
      }
    })
  const deleted: Record<string, number> = {}
  for (const table of TABLES) {
    deleted[table] = 0
    for (const timeframe of config.timeframes) {
      const limit = retentionOf(config.retention.table, timeframe)
      if (limit === undefined) continue
      deleted[table] += yield* deleteExpired(
        table,
        timeframe,
        sql`timeframe = ${timeframe} AND "timestamp" < ${now - limit}`,
      )
    }
  }
  // The seed keeps ingestion_metrics by the same policy: as long as 1m candles.
  const limit = retentionOf(config.retention.table, "1m")
  deleted.ingestion_metrics =
    limit === undefined
      ? 0
      : yield* deleteExpired("ingestion_metrics", "1m", sql`"timestamp" < to_timestamp(${(now - limit) / 1_000})`)
  return deleted
})

/**
 * The retention job on plain PostgreSQL and the embedded store: a pass every RETENTION_INTERVAL_MS, off the hot
 * path (its own fiber, the store's connections), one log line per pass. A pass that fails (the database is down) is logged and the next one tries again.
 */
export const RetentionLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const pass = Effect.gen(function* () {
      const start = yield* Clock.currentTimeMillis
      const deleted = yield* runRetention()
      const took = (yield* Clock.currentTimeMillis) - start
      yield* Effect.logInfo(
        `retention: deleted ${deleted.ohlcv_candles} candle row(s), ${deleted.indicators} indicator row(s) and ${deleted.ingestion_metrics} ingestion_metrics row(s) past their limit in ${took} ms`,
      )
    }).pipe(
      Effect.catchAll((e) =>
        Effect.logWarning(
          `retention: pass failed (${e.message}); the next pass in ${Duration.format(config.retention.interval)} tries again`,
        ),
      ),
    )
    // The first pass waits an interval too: a daemon restarted in a loop must not turn into a deleting loop.
    yield* Effect.forkScoped(Effect.schedule(pass, Schedule.spaced(config.retention.interval)))
  }),
)
