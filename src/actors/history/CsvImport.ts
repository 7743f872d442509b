import { createReadStream } from "node:fs"
import { pipeline } from "node:stream"
import { parse } from "csv-parse"
import { Data, Effect, Stream } from "effect"
import { type CsvColumns, importedCandle, parseTime } from "../../domain/ImportedCandle.js"
import { utcDays } from "../../exchanges/Archive.js"
import type { CandleStore } from "../../layers/CandleStore.js"
import type { HistoryCheckpoints } from "../../layers/HistoryCheckpoints.js"
import type { Candle, Timeframe } from "../../schema/Candle.js"
import type { ExchangeId } from "../../schema/Market.js"
import { batches } from "./ArchiveFiles.js"
import type { Progress } from "./Progress.js"

/** The CSV file cannot be read at all: missing, not CSV, or without a column the mapping names. */
export class CsvUnreadable extends Data.TaggedError("CsvUnreadable")<{
  readonly file: string
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message() {
    return `${this.file}: ${this.reason}`
  }
}

export interface CsvImport {
  readonly exchange: ExchangeId
  readonly symbols: ReadonlyArray<string>
  readonly from: string
  readonly to: string
  readonly file: string
  readonly columns: CsvColumns
  readonly timeframe: Timeframe
}

/** How many bad rows of a day are named in its log line. */
const ROWS_SHOWN = 5
const FLUSH_ROWS = 1_000

interface DayTally {
  candles: number
  readonly errors: Array<string>
}

/** `BTC/USDT`, `BTCUSDT`, `btc-usdt` and `BTC_USDT` all name BTC/USDT. */
const bare = (symbol: string) => symbol.toUpperCase().replace(/[/_\-:]/g, "")

/**
 * A legacy OHLCV CSV (the seed's migration) into `ohlcv_candles`: streamed row by row, each row mapped by `columns`
 * to a final candle of one timeframe marked imported (revision -1, incomplete), upserted in batches. Rows outside the
 * symbols and days asked for are passed over, as are days a checkpoint says are done. A day with a row that cannot
 * be a candle is marked failed, naming the rows (line numbers); its good rows are stored. Returns the days loaded
 * and the days that failed.
 */
export const importCsv = (spec: CsvImport, store: CandleStore, checkpoints: HistoryCheckpoints, progress: Progress) =>
  Effect.gen(function* () {
    const days = new Set(utcDays(spec.from, spec.to))
    const bySymbol = new Map(spec.symbols.map((s) => [bare(s), s]))
    const tallies = new Map<string, DayTally>()
    const done = new Set<string>()
    for (const symbol of spec.symbols)
      for (const day of days)
        if ((yield* checkpoints.state({ exchange: spec.exchange, symbol, day, source: "csv" })) === "done")
          done.add(`${symbol} ${day}`)

    const pending: Array<Candle> = []
    const flush = (all: boolean) =>
      Effect.suspend(() =>
        pending.length === 0 || (!all && pending.length < FLUSH_ROWS) ? Effect.void : store.upsert(pending.splice(0)),
      )

    /** The day's tally, created (and its checkpoint set running) when its first row comes. */
    const tally = (symbol: string, day: string) =>
      Effect.gen(function* () {
        const key = `${symbol} ${day}`
        const known = tallies.get(key)
        if (known !== undefined) return known
        const created: DayTally = { candles: 0, errors: [] }
        tallies.set(key, created)
        progress.dayStarted(symbol, day)
        yield* checkpoints.set({ exchange: spec.exchange, symbol, day, source: "csv" }, "running", 0, 0)
        return created
      })

    const records = Effect.try({
      try: () => {
        const parser = parse({ columns: true, info: true, skip_empty_lines: true, trim: true })
        pipeline(createReadStream(spec.file), parser, (error) => {
          if (error) parser.destroy(error)
        })
        return parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>
      },
      catch: (e) => new CsvUnreadable({ file: spec.file, reason: "cannot open it", cause: e }),
    })
    let checkedHeader = false
    yield* Stream.unwrap(
      Effect.map(records, (rows) =>
        Stream.fromAsyncIterable(
          batches(rows, 4_096),
          (e) => new CsvUnreadable({ file: spec.file, reason: `cannot read it as CSV (${String(e)})`, cause: e }),
        ),
      ),
    ).pipe(
      Stream.runForEach((batch) =>
        Effect.gen(function* () {
          if (!checkedHeader && batch.length > 0) {
            checkedHeader = true
            const header = Object.keys(batch[0]!.record)
            const missing = Object.values(spec.columns).filter((c) => !header.includes(c))
            if (missing.length > 0)
              return yield* new CsvUnreadable({
                file: spec.file,
                reason: `no column ${missing.join(", ")} in its header (${header.join(", ")}); map them with --columns`,
              })
          }
          const counted = new Map<string, number>()
          for (const { record, info } of batch) {
            const named =
              spec.columns.symbol === undefined
                ? spec.symbols[0]
                : bySymbol.get(bare(record[spec.columns.symbol] ?? ""))
            if (named === undefined) continue
            const openTime = parseTime(record[spec.columns.time] ?? "")
            const day = openTime === undefined ? undefined : new Date(openTime).toISOString().slice(0, 10)
            if (day !== undefined && (!days.has(day) || done.has(`${named} ${day}`))) continue
            // A row without a readable time has no day of its own: it counts against the day of the rows before it.
            const t = yield* tally(named, day ?? lastDay(tallies, named) ?? spec.from)
            const candle = importedCandle(record, spec.columns, spec.exchange, named, spec.timeframe)
            if (typeof candle === "string") {
              t.errors.push(`line ${info.lines}: ${candle}`)
              continue
            }
            t.candles++
            pending.push(candle)
            counted.set(named, (counted.get(named) ?? 0) + 1)
          }
          for (const [symbol, n] of counted) progress.trades(symbol, n)
          yield* flush(false)
        }),
      ),
    )
    yield* flush(true)

    const loaded: Array<string> = []
    const failed: Array<string> = []
    for (const symbol of spec.symbols)
      for (const day of days) {
        const key = `${symbol} ${day}`
        if (done.has(key)) continue
        const what = `${spec.exchange} ${symbol} ${day}`
        const checkpoint = { exchange: spec.exchange, symbol, day, source: "csv" }
        const t = tallies.get(key)
        if (t === undefined || t.errors.length > 0) {
          failed.push(what)
          yield* checkpoints.set(checkpoint, "failed", t?.candles ?? 0, t?.errors.length ?? 0)
          progress.dayEnded(symbol, day, "failed", t?.candles ?? 0, t?.errors.length ?? 0)
          yield* Effect.logError(
            t === undefined
              ? `history: ${what}: ${spec.file} holds no ${spec.timeframe} candle of it`
              : `history: ${what}: ${t.errors.length} row(s) of ${spec.file} are not candles, ${t.candles} stored: ${t.errors.slice(0, ROWS_SHOWN).join("; ")}${t.errors.length > ROWS_SHOWN ? "; …" : ""}`,
          )
          continue
        }
        loaded.push(what)
        yield* checkpoints.set(checkpoint, "done", t.candles, 0)
        progress.dayEnded(symbol, day, "done", t.candles, 0)
        yield* Effect.logInfo(
          `history: ${what} imported, ${t.candles} ${spec.timeframe} candle(s) from ${spec.file}, marked imported (revision -1)`,
        )
      }
    return { loaded, failed, skipped: done.size }
  })

const lastDay = (tallies: ReadonlyMap<string, DayTally>, symbol: string) => {
  let last: string | undefined
  for (const key of tallies.keys()) if (key.startsWith(`${symbol} `)) last = key.slice(symbol.length + 1)
  return last
}
