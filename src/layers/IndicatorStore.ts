import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import type { IndicatorRecord } from "../schema/Indicator.js"
import type { CandleQuery } from "./CandleStore.js"

/** One stored indicator value. */
interface IndicatorRow {
  readonly exchange: string
  readonly symbol: string
  readonly timeframe: string
  readonly timestamp: number
  readonly indicator: string
  readonly value: string
  readonly revision: number
}

/** Indicator persistence: the `indicators` table, one row per candle and indicator, upserted by natural key. */
export class IndicatorStore extends Effect.Service<IndicatorStore>()("ingestd/IndicatorStore", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** A batch may hold a row twice (a revision right behind its first version): the later one wins, as it would. */
    const rowsOf = (records: ReadonlyArray<IndicatorRecord>): Array<IndicatorRow> => {
      const byKey = new Map<string, IndicatorRow>()
      for (const r of records)
        for (const [indicator, value] of Object.entries(r.values))
          byKey.set(`${r.exchange}\u0000${r.symbol}\u0000${r.timeframe}\u0000${r.openTime}\u0000${indicator}`, {
            exchange: r.exchange,
            symbol: r.symbol,
            timeframe: r.timeframe,
            timestamp: r.openTime,
            indicator,
            // The shortest decimal that reads back as the same double: numeric keeps it exactly.
            value: String(value),
            revision: r.revision,
          })
      return [...byKey.values()]
    }

    const upsert = (records: ReadonlyArray<IndicatorRecord>): Effect.Effect<void, SqlError.SqlError> => {
      const rows = rowsOf(records)
      if (rows.length === 0) return Effect.void
      return sql`
        INSERT INTO indicators AS i (exchange, symbol, timeframe, "timestamp", indicator, value, revision)
        SELECT * FROM unnest(
          ${rows.map((r) => r.exchange)}::text[], ${rows.map((r) => r.symbol)}::text[],
          ${rows.map((r) => r.timeframe)}::text[], ${rows.map((r) => r.timestamp)}::bigint[],
          ${rows.map((r) => r.indicator)}::text[], ${rows.map((r) => r.value)}::numeric[],
          ${rows.map((r) => r.revision)}::integer[])
        ON CONFLICT (exchange, symbol, timeframe, "timestamp", indicator) DO UPDATE SET
          value = EXCLUDED.value, revision = EXCLUDED.revision, updated_at = now()
        WHERE i.revision <= EXCLUDED.revision`.pipe(
        Effect.asVoid,
        Effect.withSpan("IndicatorStore.upsert", {
          kind: "client",
          attributes: { "db.system": "postgresql", rows: rows.length },
        }),
      )
    }

    /** Each candle's stored values, oldest first: the last `limit` candles from `from` to `to`. */
    const query = (q: CandleQuery) =>
      sql<{ timestamp: string; indicator: string; value: string; revision: number }>`
        WITH times AS (
          SELECT DISTINCT "timestamp" FROM indicators
          WHERE exchange = ${q.exchange} AND symbol = ${q.symbol} AND timeframe = ${q.timeframe}
            AND "timestamp" >= ${q.from ?? 0} AND "timestamp" <= ${q.to ?? Number.MAX_SAFE_INTEGER}
          ORDER BY "timestamp" DESC LIMIT ${q.limit})
        SELECT i."timestamp", i.indicator, i.value, i.revision FROM indicators i JOIN times USING ("timestamp")
        WHERE i.exchange = ${q.exchange} AND i.symbol = ${q.symbol} AND i.timeframe = ${q.timeframe}
        ORDER BY i."timestamp", i.indicator`.pipe(
        Effect.map((rows) => {
          const byTime = new Map<number, { openTime: number; revision: number; values: Record<string, number> }>()
          for (const r of rows) {
            const openTime = Number(r.timestamp)
            const entry = byTime.get(openTime) ?? { openTime, revision: 0, values: {} }
            entry.values[r.indicator] = Number(r.value)
            entry.revision = Math.max(entry.revision, r.revision)
            byTime.set(openTime, entry)
          }
          return [...byTime.values()]
        }),
      )

    return { upsert, query } as const
  }),
}) {}
