import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * Where the TimescaleDB extension is installed (docker-compose), `ohlcv_candles` becomes a hypertable on its
 * bigint millisecond column: one-week chunks, and an integer_now function so retention and compression policies
 * can be added. On plain PostgreSQL (and the embedded store) this does nothing.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const available = yield* sql<{
    n: number
  }>`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'timescaledb'`
  if ((available[0]?.n ?? 0) === 0) return
  yield* sql`CREATE EXTENSION IF NOT EXISTS timescaledb`
  yield* sql`
    CREATE OR REPLACE FUNCTION unix_now_ms() RETURNS bigint LANGUAGE sql STABLE AS
    $$ SELECT (extract(epoch FROM now()) * 1000)::bigint $$`
  yield* sql`SELECT create_hypertable('ohlcv_candles', 'timestamp', chunk_time_interval => 604800000, if_not_exists => true, migrate_data => true)`
  yield* sql`SELECT set_integer_now_func('ohlcv_candles', 'unix_now_ms', replace_if_exists => true)`
})
