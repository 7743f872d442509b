import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/**
 * A fleet's membership and symbol leases (README, "A fleet"). Expiry is the database's clock (`now()`), never a
 * member's, so members with skewed clocks agree on who is alive. `epoch` grows by one at every change of owner: a
 * candle write carries the epoch its member holds and is refused when the lease moved on (fencing).
 */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  yield* sql`
    CREATE TABLE IF NOT EXISTS fleet_members (
      fleet text NOT NULL,
      member text NOT NULL,
      symbols_digest text NOT NULL,
      started_at timestamptz NOT NULL DEFAULT now(),
      renewed_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      PRIMARY KEY (fleet, member)
    )`
  yield* sql`
    CREATE TABLE IF NOT EXISTS fleet_leases (
      fleet text NOT NULL,
      exchange text NOT NULL,
      symbol text NOT NULL,
      owner text NOT NULL,
      epoch bigint NOT NULL,
      acquired_at timestamptz NOT NULL DEFAULT now(),
      renewed_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      takeovers integer NOT NULL DEFAULT 0,
      PRIMARY KEY (fleet, exchange, symbol)
    )`
})
