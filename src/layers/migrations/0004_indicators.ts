import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * The seed's `indicators` table with `exchange` added to its key (DESIGN.md): one row per candle and indicator,
 * `timestamp` the candle's open time in ms. Where TimescaleDB is installed, 0005 makes it a hypertable like
 * `ohlcv_candles`.
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
})
