import * as SqlClient from "@effect/sql/SqlClient"
import { Clock, Duration, Effect, Layer, Metric, Schedule } from "effect"
import { retentionOf } from "../domain/Retention.js"
import { AppConfig } from "../layers/AppConfig.js"
import * as Metrics from "../layers/Metrics.js"

/** The tables with a row per candle (bigint open time in ms, a timeframe column), which retention applies to. */
const TABLES = ["ohlcv_candles", "indicators"] as const

/**
 * One pass: for each table and each configured timeframe with a limit, rows opened before now − limit are deleted
 * `batchRows` at a time (short transactions, no long lock), until none is left. Returns the rows deleted per table.
 */
export const runRetention = Effect.fn("Retention.run")(function* () {
  const config = yield* AppConfig
  const sql = yield* SqlClient.SqlClient
  const now = yield* Clock.currentTimeMillis
  const deleted: Record<string, number> = {}
  for (const table of TABLES) {
    deleted[table] = 0
    for (const timeframe of config.timeframes) {
      const limit = retentionOf(config.retention.table, timeframe)
      if (limit === undefined) continue
      const cutoff = now - limit
      for (;;) {
        const rows = yield* sql<{ n: number }>`
          WITH doomed AS (
            SELECT ctid FROM ${sql(table)} WHERE timeframe = ${timeframe} AND "timestamp" < ${cutoff}
            LIMIT ${config.retention.batchRows})
          DELETE FROM ${sql(table)} WHERE ctid IN (SELECT ctid FROM doomed)
          RETURNING 1 AS n`
        deleted[table] += rows.length
        yield* Metric.incrementBy(
          Metric.tagged(Metric.tagged(Metrics.retentionDeleted, "table", table), "timeframe", timeframe),
          rows.length,
        )
        if (rows.length < config.retention.batchRows) break
      }
    }
  }
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
        `retention: deleted ${deleted.ohlcv_candles} candle row(s) and ${deleted.indicators} indicator row(s) past their timeframe's limit in ${took} ms`,
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
