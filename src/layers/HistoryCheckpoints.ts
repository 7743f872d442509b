import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

export type CheckpointState = "running" | "done" | "failed"

export interface Checkpoint {
  readonly exchange: string
  readonly symbol: string
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string
  readonly source: string
}

/** `history_checkpoints`: which days the history command has loaded, so a rerun skips them and resumes the rest. */
export class HistoryCheckpoints extends Effect.Service<HistoryCheckpoints>()("ingestd/HistoryCheckpoints", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    const state = (c: Checkpoint) =>
      Effect.map(
        sql<{ state: CheckpointState }>`
          SELECT state FROM history_checkpoints
          WHERE exchange = ${c.exchange} AND symbol = ${c.symbol} AND day = ${c.day}::date AND source = ${c.source}`,
        (rows) => rows[0]?.state,
      )

    const set = (c: Checkpoint, s: CheckpointState, trades: number, mismatches: number) =>
      sql`
        INSERT INTO history_checkpoints (exchange, symbol, day, source, state, trades, mismatches, updated_at)
        VALUES (${c.exchange}, ${c.symbol}, ${c.day}::date, ${c.source}, ${s}, ${trades}, ${mismatches}, now())
        ON CONFLICT (exchange, symbol, day, source) DO UPDATE SET
          state = EXCLUDED.state, trades = EXCLUDED.trades, mismatches = EXCLUDED.mismatches, updated_at = now()`.pipe(
        Effect.asVoid,
      )

    return { state, set } as const
  }),
}) {}
