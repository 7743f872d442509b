const DAY = 86_400_000

/**
 * The seed's data lifecycle where TimescaleDB is installed (sections 3.1 and 5.3), as statements, so that a test can
 * parse them without a TimescaleDB: this machine class cannot install it, and nothing here has run against one.
 *
 * - Compression: one hypertable holds every timeframe and a chunk is compressed whole, so the seed's per-timeframe
 *   ages (1m after a month, 5m three, 1h six, 1d a year) cannot all hold; chunks compress after the shortest, one
 *   month. Segments by series keep a series' rows together, newest first.
 * - Retention stays with the daemon's per-timeframe job (RETENTION): `add_retention_policy` drops whole chunks of
 *   every timeframe alike, and 1d candles are kept forever. Deleting from compressed chunks needs TimescaleDB 2.11+.
 * - `ohlcv_1h`, the seed's continuous aggregate of final 1m candles per hour, refreshed hourly over the last three
 *   hours (a revised minute is caught up), and kept five years like 1h candles.
 */
export const TIMESCALE_LIFECYCLE: ReadonlyArray<string> = [
  `SELECT create_hypertable('indicators', 'timestamp', chunk_time_interval => 604800000, if_not_exists => true, migrate_data => true)`,
  `SELECT set_integer_now_func('indicators', 'unix_now_ms', replace_if_exists => true)`,
  `ALTER TABLE ohlcv_candles SET (timescaledb.compress, timescaledb.compress_segmentby = 'exchange, symbol, timeframe', timescaledb.compress_orderby = '"timestamp" DESC')`,
  `ALTER TABLE indicators SET (timescaledb.compress, timescaledb.compress_segmentby = 'exchange, symbol, timeframe, indicator', timescaledb.compress_orderby = '"timestamp" DESC')`,
  `SELECT add_compression_policy('ohlcv_candles', compress_after => ${30 * DAY}::bigint, if_not_exists => true)`,
  `SELECT add_compression_policy('indicators', compress_after => ${30 * DAY}::bigint, if_not_exists => true)`,
  `CREATE MATERIALIZED VIEW IF NOT EXISTS ohlcv_1h WITH (timescaledb.continuous) AS
    SELECT exchange, symbol, time_bucket(${3_600_000}::bigint, "timestamp") AS bucket,
      first(open, "timestamp") AS open, max(high) AS high, min(low) AS low, last(close, "timestamp") AS close,
      sum(volume) AS volume, sum(quote_volume) AS quote_volume, sum(trades) AS trades
    FROM ohlcv_candles WHERE timeframe = '1m' AND is_final
    GROUP BY exchange, symbol, bucket WITH NO DATA`,
  `SELECT add_continuous_aggregate_policy('ohlcv_1h', start_offset => ${3 * 3_600_000}::bigint, end_offset => ${3_600_000}::bigint, schedule_interval => INTERVAL '1 hour', if_not_exists => true)`,
  `SELECT add_retention_policy('ohlcv_1h', drop_after => ${1825 * DAY}::bigint, if_not_exists => true)`,
]
