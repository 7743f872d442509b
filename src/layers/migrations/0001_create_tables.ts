import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * The seed schema plus `exchange`. The unique key includes the time column and `id` is not a primary key, because
 * every unique index of a TimescaleDB hypertable must contain the time column.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS ohlcv_candles (
      id bigserial,
      exchange text NOT NULL,
      symbol text NOT NULL,
      timeframe text NOT NULL,
      "timestamp" bigint NOT NULL,
      open numeric NOT NULL,
      high numeric NOT NULL,
      low numeric NOT NULL,
      close numeric NOT NULL,
      volume numeric NOT NULL,
      quote_volume numeric NOT NULL,
      trades integer NOT NULL,
      taker_buy_base numeric NOT NULL,
      taker_buy_quote numeric NOT NULL,
      vwap numeric,
      close_time bigint NOT NULL,
      is_final boolean NOT NULL,
      revision integer NOT NULL DEFAULT 0,
      complete boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (exchange, symbol, timeframe, "timestamp")
    )`
  yield* sql`
    CREATE TABLE IF NOT EXISTS ingestion_status (
      exchange text NOT NULL,
      symbol text NOT NULL,
      timeframe text NOT NULL,
      last_ingested_timestamp bigint,
      last_trade_id text,
      last_ingested_at timestamptz,
      ingestion_mode text NOT NULL DEFAULT 'websocket' CHECK (ingestion_mode IN ('websocket', 'polling', 'backfill')),
      status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'error')),
      error_message text,
      latency_ms integer,
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (exchange, symbol, timeframe)
    )`
  yield* sql`
    CREATE TABLE IF NOT EXISTS ingestion_metrics (
      id bigserial,
      symbol text NOT NULL,
      timeframe text NOT NULL,
      metric_type text NOT NULL,
      metric_value double precision NOT NULL,
      "timestamp" timestamptz NOT NULL DEFAULT now()
    )`
  yield* sql`CREATE INDEX IF NOT EXISTS ingestion_metrics_lookup ON ingestion_metrics (symbol, timeframe, metric_type, "timestamp")`
})
