import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * The seed's `indicators` table with `exchange` added to its key (DESIGN.md): one row per candle and indicator,
 * `timestamp` the candle's open time in ms. Where TimescaleDB is installed it becomes a hypertable like
 * `ohlcv_candles` (same chunks and integer_now function); on plain PostgreSQL and the embedded store it stays a table.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS indicators (
      exchange text NOT NULL,
      symbol text NOT NULL,
      timeframe text NOT NULL,
      "timestamp" bigint NOT NULL,
      indicator text NOT NULL,
      value numeric NOT NULL,
      revision integer NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (exchange, symbol, timeframe, "timestamp", indicator)
    )`
  const available = yield* sql<{
    n: number
  }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`
  if ((available[0]?.n ?? 0) === 0) return
  yield* sql`SELECT create_hypertable('indicators', 'timestamp', chunk_time_interval => 604800000, if_not_exists => true, migrate_data => true)`
  yield* sql`SELECT set_integer_now_func('indicators', 'unix_now_ms', replace_if_exists => true)`
})
