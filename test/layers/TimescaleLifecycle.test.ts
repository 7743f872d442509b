import { it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { loadModule, parse } from "libpg-query"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { TIMESCALE_LIFECYCLE } from "../../src/layers/migrations/timescaleLifecycle.js"
import { PostgresLive } from "../../src/layers/Postgres.js"
import { TestConfig } from "../support/config.js"
import { query, scratchDatabase } from "../support/postgres.js"

/** Every `ColumnRef` name, and every string constant or option value, in a parse tree. */
const walk = (node: unknown, columns: Set<string>, strings: Set<string>): void => {
  if (Array.isArray(node)) for (const n of node) walk(n, columns, strings)
  else if (node !== null && typeof node === "object") {
    for (const [key, value] of Object.entries(node)) {
      const v = value as {
        fields?: Array<{ String?: { sval: string } }>
        sval?: { sval?: string }
        arg?: { String?: { sval: string } }
      }
      if (key === "ColumnRef") {
        const name = v.fields?.at(-1)?.String?.sval
        if (name !== undefined) columns.add(name)
      }
      if (key === "A_Const" && typeof v.sval?.sval === "string") strings.add(v.sval.sval)
      if (key === "DefElem" && typeof v.arg?.String?.sval === "string") strings.add(v.arg.String.sval)
      walk(value, columns, strings)
    }
  }
}

/**
 * TimescaleDB cannot be installed on this machine class, so these statements never run here. What can be checked
 * is checked: PostgreSQL's own parser (libpg-query) accepts each one, and every table and column they name exists in
 * the schema the migrations build on plain PostgreSQL.
 */
describe("the TimescaleDB lifecycle statements (unexercised: no TimescaleDB here)", () => {
  const db = scratchDatabase("ingest_timescale")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it.scopedLive("parse as PostgreSQL, and name only tables and columns the migrations create", () =>
    Effect.gen(function* () {
      yield* Effect.promise(() => loadModule())
      const url = yield* Effect.promise(() => db.create())
      yield* Layer.build(PostgresLive.pipe(Layer.provide(TestConfig({ databaseUrl: Option.some(Redacted.make(url)) }))))
      const schema = yield* Effect.promise(() =>
        query<{ table_name: string; column_name: string }>(
          url,
          `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'`,
        ),
      )
      const columnsOf = new Map<string, Set<string>>()
      for (const r of schema) columnsOf.set(r.table_name, (columnsOf.get(r.table_name) ?? new Set()).add(r.column_name))
      // The continuous aggregate is a relation of its own once created.
      columnsOf.set("ohlcv_1h", new Set())

      expect(TIMESCALE_LIFECYCLE.length).toBeGreaterThanOrEqual(9)
      for (const statement of TIMESCALE_LIFECYCLE) {
        const tree = yield* Effect.promise(() => parse(statement))
        const columns = new Set<string>()
        const strings = new Set<string>()
        walk(tree, columns, strings)
        const view = /^CREATE MATERIALIZED VIEW/.test(statement)
        const altered = /^ALTER TABLE (\w+)/.exec(statement)?.[1]
        // Function calls name their relation as a string ('ohlcv_candles'); the others name it in the syntax.
        const relations = view
          ? ["ohlcv_candles"]
          : altered !== undefined
            ? [altered]
            : [...strings].filter((x) => /^[a-z_0-9]+$/.test(x) && !x.startsWith("unix_") && x !== "timestamp")
        expect(relations.length, statement).toBeGreaterThan(0)
        for (const r of relations) expect(columnsOf.has(r), `${r} exists: ${statement}`).toBe(true)
        // Columns read by the aggregate, and the segment and order keys of compression, exist in their table.
        const used = view
          ? [...columns].filter((c) => c !== "bucket")
          : altered !== undefined
            ? [...strings]
                .filter((x) => x.includes(",") || x.includes('"'))
                .flatMap((x) => x.replace(/ DESC$/, "").split(","))
                .map((c) => c.trim().replace(/"/g, ""))
            : []
        if (view || altered !== undefined) expect(used.length, statement).toBeGreaterThan(0)
        for (const c of used)
          expect(columnsOf.get(relations[0]!)!.has(c), `${relations[0]}.${c}: ${statement}`).toBe(true)
      }
      // A statement PostgreSQL would refuse is caught: the check can fail.
      const refused = yield* Effect.promise(() =>
        parse("ALTER TABLE ohlcv_candles SET (timescaledb.compress,").then(
          () => false,
          () => true,
        ),
      )
      expect(refused).toBe(true)
    }),
  )
})
