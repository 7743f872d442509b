import { Effect, Stream } from "effect"
import { differences, type VenueCandle } from "../../domain/Reconciliation.js"
import { type PipelineOptions, SymbolPipeline } from "../../domain/SymbolPipeline.js"
import type { Archive } from "../../exchanges/Archive.js"
import type { CandleStore } from "../../layers/CandleStore.js"
import type { Candle } from "../../schema/Candle.js"
import type { ExchangeId } from "../../schema/Market.js"
import { type ArchiveSource, csvRows, HistoryFileError } from "./ArchiveFiles.js"

const DAY = 86_400_000
/** Candles are upserted in batches of about this many rows (a day of the default timeframes is about 1,850). */
const FLUSH_ROWS = 1_000

export interface DaySpec {
  readonly exchange: ExchangeId
  readonly symbol: string
  readonly instrument: string
  /** `YYYY-MM-DD`, UTC. */
  readonly day: string
  readonly source: ArchiveSource
  readonly archive: Archive
  readonly options: PipelineOptions
  readonly store: CandleStore
  /** Called after each batch of trades with how many it held. */
  readonly onTrades: (n: number) => Effect.Effect<void>
}

export interface DayResult {
  readonly trades: number
  /** The day's 1m candles that differ from the archive's klines, with the fields that differ. */
  readonly mismatches: ReadonlyArray<{ readonly minute: number; readonly fields: ReadonlyArray<string> }>
}

/**
 * Loads one symbol's day from the archive through the live candle path: a `SymbolPipeline` continued from the
 * stored minute before the day (so empty minutes are filled as a live run fills them), fed the day's trades in
 * file order, and advanced to the day's end; its final candles upserted. Then the day's 1m candles are compared
 * with the archive's own klines, exactly, as the reconciler compares live ones. Rerunning a day writes the same rows.
 */
export const importDay = (spec: DaySpec) =>
  Effect.gen(function* () {
    const dayStart = Date.parse(`${spec.day}T00:00:00Z`)
    const pipeline = new SymbolPipeline(spec.exchange, spec.symbol, spec.options)
    const before = yield* spec.store.minuteBefore(spec.exchange, spec.symbol, dayStart)
    if (before !== undefined) pipeline.aggregator.restore([before])

    const out: Array<Candle> = []
    const minutes: Array<Candle> = []
    const flush = (all: boolean) =>
      Effect.suspend(() => {
        if (out.length === 0 || (!all && out.length < FLUSH_ROWS)) return Effect.void
        const batch = out.splice(0, out.length)
        for (const c of batch) if (c.timeframe === "1m") minutes.push(c)
        return spec.store.upsert(batch)
      })

    const tradesFile = yield* spec.source.file(spec.archive.tradesPath(spec.instrument, spec.day))
    let trades = 0
    let line = 0
    yield* csvRows(tradesFile).pipe(
      Stream.runForEach((rows) =>
        Effect.gen(function* () {
          const now = Date.now()
          let last = Number.NEGATIVE_INFINITY
          for (const row of rows) {
            line++
            const t = spec.archive.trade(row, spec.symbol, now)
            if (t === undefined) continue
            if (typeof t === "string")
              return yield* new HistoryFileError({ file: tradesFile, reason: `line ${line}: ${t}` })
            pipeline.onTrade(t, now)
            trades++
            last = t.exchangeTs
          }
          if (last > Number.NEGATIVE_INFINITY) pipeline.advance(last, out)
          yield* flush(false)
          yield* spec.onTrades(rows.length)
        }),
      ),
    )
    pipeline.advance(dayStart + DAY - 1 + spec.options.graceMs, out)
    yield* flush(true)

    const klinesFile = yield* spec.source.file(spec.archive.klinesPath(spec.instrument, spec.day))
    const theirs = new Map<number, VenueCandle>()
    yield* csvRows(klinesFile).pipe(
      Stream.runForEach((rows) =>
        Effect.gen(function* () {
          for (const row of rows) {
            const k = spec.archive.kline(row)
            if (k === undefined) continue
            if (typeof k === "string") return yield* new HistoryFileError({ file: klinesFile, reason: k })
            theirs.set(k.openTime, k)
          }
        }),
      ),
    )
    const ours = minutes.filter((c) => c.openTime >= dayStart && c.openTime < dayStart + DAY)
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
    return { trades, mismatches } satisfies DayResult
  }).pipe(Effect.scoped)
