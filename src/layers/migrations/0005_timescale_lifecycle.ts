import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"
import { TIMESCALE_LIFECYCLE } from "./timescaleLifecycle.js"

/** The lifecycle of timescaleLifecycle.ts where TimescaleDB is installed; nothing on plain PostgreSQL or the embedded store. */
export default Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const installed = yield* sql<{
    n: number
  }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`
  if ((installed[0]?.n ?? 0) === 0) return
  for (const statement of TIMESCALE_LIFECYCLE) yield* sql.unsafe(statement)
})
