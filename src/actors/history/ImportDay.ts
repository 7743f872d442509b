import { Effect, Stream } from "effect"
import { differences } from "../../domain/Reconciliation.js"
import { type PipelineOptions, SymbolPipeline } from "../../domain/SymbolPipeline.js"
import type { StoredValues } from "../../domain/CandleBuilder.js"
import type { CandleStore } from "../../layers/CandleStore.js"
import type { Candle } from "../../schema/Candle.js"
import type { ExchangeId } from "../../schema/Market.js"
import type { Day, DaySource } from "./DaySource.js"

/** Candles are upserted in batches of about this many rows (a day of the default timeframes is about 1,850). */
const FLUSH_ROWS = 1_000

export interface DaySpec {
  readonly exchange: ExchangeId
  readonly day: Day
  readonly source: DaySource
  readonly options: PipelineOptions
  readonly store: CandleStore
  /**
   * The stored final minutes the range continues (covering the open part of every higher timeframe at its start);
   * by default the stored minute before it, which is enough for a range that starts a day.
   */
  readonly continueFrom?: ReadonlyArray<StoredValues>
  /** Called after each batch of trades with how many it held. */
  readonly onTrades: (n: number) => Effect.Effect<void>
}

export interface DayResult {
  readonly trades: number
  /** The day's 1m candles that differ from the exchange's, with the fields that differ. */
  readonly mismatches: ReadonlyArray<{ readonly minute: number; readonly fields: ReadonlyArray<string> }>
  /** False where the source has no candles of the exchange's to check by. */
  readonly checked: boolean
}

/**
 * Loads one symbol's day through the live candle path: a `SymbolPipeline` continued from the stored minute before
 * the day (so empty minutes are filled as a live run fills them), fed the day's trades in order, and advanced to the
 * day's end; its final candles upserted. Then the day's 1m candles are compared with the exchange's own, exactly, as
 * the reconciler compares live ones. Rerunning a day writes the same rows.
 */
export const importDay = (spec: DaySpec) =>
  Effect.gen(function* () {
    const { day } = spec
    const pipeline = new SymbolPipeline(spec.exchange, day.symbol, spec.options)
    const before = spec.continueFrom ?? [yield* spec.store.minuteBefore(spec.exchange, day.symbol, day.start)]
    pipeline.aggregator.restore(before.filter((m) => m !== undefined))

    const out: Array<Candle> = []
    const minutes: Array<Candle> = []
    const flush = (all: boolean) =>
      Effect.suspend(() => {
        if (out.length === 0 || (!all && out.length < FLUSH_ROWS)) return Effect.void
        const batch = out.splice(0, out.length)
        for (const c of batch) if (c.timeframe === "1m") minutes.push(c)
        return spec.store.upsert(batch)
      })

    let trades = 0
    yield* spec.source.trades(day).pipe(
      Stream.runForEach((batch) =>
        Effect.gen(function* () {
          const now = Date.now()
          for (const t of batch) pipeline.onTrade(t, now)
          trades += batch.length
          const last = batch.at(-1)
          if (last !== undefined) pipeline.advance(last.exchangeTs, out)
          yield* flush(false)
          yield* spec.onTrades(batch.length)
        }),
      ),
    )
    pipeline.advance(day.end - 1 + spec.options.graceMs, out)
    yield* flush(true)

    const theirs = yield* spec.source.klines(day)
    if (theirs === undefined) return { trades, mismatches: [], checked: false } satisfies DayResult
    const ours = minutes.filter((c) => c.openTime >= day.start && c.openTime < day.end)
    const built = new Set(ours.map((c) => c.openTime))
    const mismatches = [
      ...ours.map((c) => ({ minute: c.openTime, fields: differences(c, theirs.get(c.openTime)).map((d) => d.field) })),
      // A minute the exchange traded in that we have no candle of.
      ...[...theirs.values()]
        .filter((k) => k.trades > 0 && !built.has(k.openTime))
        .map((k) => ({ minute: k.openTime, fields: ["candle"] })),
    ]
      .filter((m) => m.fields.length > 0)
      .sort((a, b) => a.minute - b.minute)
    return { trades, mismatches, checked: true } satisfies DayResult
  }).pipe(Effect.scoped)
