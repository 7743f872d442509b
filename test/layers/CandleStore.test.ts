import { it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { CandleStore } from "../../src/layers/CandleStore.js"
import { PostgresLive } from "../../src/layers/Postgres.js"
import type { Candle } from "../../src/schema/Candle.js"
import { TestConfig } from "../support/config.js"
import { query, scratchDatabase } from "../support/postgres.js"
import { sampleCandle } from "../support/samples.js"

/** One version of one candle, as two collectors or a retry might write it. */
const version = (v: Partial<Candle>): Candle => ({ ...sampleCandle(0), ...v })

describe("CandleStore, against the real database: versions of one candle merge in one order", () => {
  const db = scratchDatabase("ingest_candle_store")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  /** Writes `batches` into a fresh database, one upsert each, and returns what they left stored. */
  const written = (batches: ReadonlyArray<ReadonlyArray<Candle>>) =>
    Effect.gen(function* () {
      const url = yield* Effect.promise(() => db.create())
      yield* Effect.flatMap(CandleStore, (store) => Effect.forEach(batches, store.upsert)).pipe(
        Effect.provide(
          CandleStore.Default.pipe(
            Layer.provideMerge(PostgresLive),
            Layer.provide(TestConfig({ databaseUrl: Option.some(Redacted.make(url)) })),
          ),
        ),
      )
      const rows = yield* Effect.promise(() =>
        query<{ is_final: boolean; revision: number; complete: boolean; trades: number }>(
          url,
          "SELECT is_final, revision, complete, trades FROM ohlcv_candles",
        ),
      )
      return rows.map((r) => [r.is_final, r.revision, r.complete, r.trades])
    })

  const cases: ReadonlyArray<[string, ReadonlyArray<Candle>, [boolean, number, boolean, number]]> = [
    [
      "an open snapshot with fewer trades, written last (a collector that is behind), leaves the fuller one",
      [version({ isFinal: false, trades: 420 }), version({ isFinal: false, trades: 300 })],
      [false, 0, true, 420],
    ],
    [
      "an open snapshot with more trades replaces the one before it",
      [version({ isFinal: false, trades: 300 }), version({ isFinal: false, trades: 420 })],
      [false, 0, true, 420],
    ],
    [
      "an incomplete candle written after the complete one of its revision leaves the complete one",
      [version({ trades: 420 }), version({ trades: 400, complete: false })],
      [true, 0, true, 420],
    ],
    [
      "a higher revision replaces a lower one, even with fewer trades",
      [version({ trades: 420 }), version({ trades: 419, revision: 1 })],
      [true, 1, true, 419],
    ],
    [
      "a final candle replaces an open snapshot with more trades",
      [version({ isFinal: false, trades: 500 }), version({ trades: 420 })],
      [true, 0, true, 420],
    ],
  ]
  for (const [name, versions, kept] of cases)
    it.effect(name, () =>
      Effect.gen(function* () {
        // One upsert after another, as two daemons write; and all in one batch, as a sink's retry may.
        expect(yield* written(versions.map((c) => [c]))).toEqual([kept])
        expect(yield* written([versions])).toEqual([kept])
      }),
    )
})
