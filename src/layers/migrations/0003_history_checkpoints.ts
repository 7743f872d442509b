import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * The history command's progress (DESIGN.md, "History"): one row per exchange, symbol, UTC day and source. `state`
 * is `running` while a day loads (a run that died leaves it so, and the next run loads the day again), then `done`
 * or `failed`; `mismatches` counts the day's 1m candles that differ from the exchange's own.
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS history_checkpoints (
      exchange text NOT NULL,
      symbol text NOT NULL,
      day date NOT NULL,
      source text NOT NULL,
      state text NOT NULL,
      trades bigint NOT NULL DEFAULT 0,
      mismatches integer NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (exchange, symbol, day, source)
    )`
})
