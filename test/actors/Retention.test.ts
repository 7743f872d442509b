import * as SqlClient from "@effect/sql/SqlClient"
import { it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { runRetention } from "../../src/actors/Retention.js"
import { parseRetention } from "../../src/domain/Retention.js"
import { PostgresLive } from "../../src/layers/Postgres.js"
import { TestConfig } from "../support/config.js"
import { query, scratchDatabase } from "../support/postgres.js"

const MINUTE = 60_000
const HOUR = 60 * MINUTE

describe("the retention job on plain PostgreSQL", () => {
  const db = scratchDatabase("ingest_retention")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it.live("deletes rows past their timeframe's limit in bounded batches, and nothing newer", () =>
    Effect.gen(function* () {
      const url = yield* Effect.promise(() => db.create())
      const table = parseRetention("1m=1h,1h=1d,1d=forever")
      if (typeof table === "string") throw new Error(table)
      const layer = PostgresLive.pipe(
        Layer.provideMerge(
          TestConfig({
            databaseUrl: Option.some(Redacted.make(url)),
            timeframes: ["1m", "5m", "1h", "1d"],
            retention: { table, interval: Duration.hours(1), batchRows: 7 },
          }),
        ),
      )
      const now = Date.now()
      // Per timeframe, open times from 3 days back to now; 5m follows 1m's hour.
      const ages: Record<string, ReadonlyArray<number>> = {
        "1m": Array.from({ length: 100 }, (_, i) => i * MINUTE),
        "5m": Array.from({ length: 30 }, (_, i) => i * 5 * MINUTE),
        "1h": Array.from({ length: 72 }, (_, i) => i * HOUR),
        "1d": [0, 400 * 24 * HOUR],
      }
      const limits: Record<string, number | undefined> = { "1m": HOUR, "5m": HOUR, "1h": 24 * HOUR, "1d": undefined }
      const deleted = yield* Effect.gen(function* () {
        const sql = yield* SqlClient.SqlClient
        for (const [tf, list] of Object.entries(ages))
          for (const age of list) {
            const ts = now - age
            yield* sql`INSERT INTO ohlcv_candles (exchange, symbol, timeframe, "timestamp", open, high, low, close,
              volume, quote_volume, trades, taker_buy_base, taker_buy_quote, close_time, is_final)
              VALUES ('binance', 'BTC/USDT', ${tf}, ${ts}, 1, 1, 1, 1, 1, 1, 1, 1, 1, ${ts + 59_999}, true)`
            yield* sql`INSERT INTO indicators (exchange, symbol, timeframe, "timestamp", indicator, value)
              VALUES ('binance', 'BTC/USDT', ${tf}, ${ts}, 'sma_20', 1), ('binance', 'BTC/USDT', ${tf}, ${ts}, 'rsi_14', 50)`
          }
        // ingestion_metrics follows 1m's limit (an hour here).
        for (const minutes of [0, 10, 30, 50, 70, 90, 110])
          yield* sql`INSERT INTO ingestion_metrics (symbol, timeframe, metric_type, metric_value, "timestamp")
            VALUES ('binance:BTC/USDT', '1m', 'throughput', 1, to_timestamp(${(now - minutes * MINUTE) / 1_000}))`
        return yield* runRetention()
      }).pipe(Effect.provide(layer), Effect.orDie)

      const expectedKept = (tf: string) =>
        ages[tf]!.filter((age) => limits[tf] === undefined || age <= limits[tf]! - 5_000).length
      let expectedDeleted = 0
      for (const tf of Object.keys(ages)) {
        const kept = yield* Effect.promise(() =>
          query<{ n: number; oldest: string }>(
            url,
            `SELECT count(*)::int AS n, min("timestamp")::text AS oldest FROM ohlcv_candles WHERE timeframe = '${tf}'`,
          ),
        )
        // Rows within 5 s of the cutoff may go either way (the pass reads the clock after the inserts).
        const limit = limits[tf]
        expect(kept[0]!.n, tf).toBeGreaterThanOrEqual(expectedKept(tf))
        expect(kept[0]!.n, tf).toBeLessThanOrEqual(ages[tf]!.filter((a) => limit === undefined || a <= limit).length)
        if (limit !== undefined) expect(Number(kept[0]!.oldest), tf).toBeGreaterThanOrEqual(now - limit)
        const indicators = yield* Effect.promise(() =>
          query<{ n: number }>(url, `SELECT count(*)::int AS n FROM indicators WHERE timeframe = '${tf}'`),
        )
        expect(indicators[0]!.n, tf).toBe(2 * kept[0]!.n)
        expectedDeleted += ages[tf]!.length - kept[0]!.n
      }
      expect(expectedDeleted).toBeGreaterThan(7 * 3)
      expect(deleted).toEqual({ ohlcv_candles: expectedDeleted, indicators: 2 * expectedDeleted, ingestion_metrics: 3 })
      const metrics = yield* Effect.promise(() =>
        query<{ n: number }>(url, `SELECT count(*)::int AS n FROM ingestion_metrics`),
      )
      expect(metrics[0]!.n).toBe(4)
    }),
  )
})
