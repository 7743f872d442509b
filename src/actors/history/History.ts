import { join } from "node:path"
import { Effect, Either } from "effect"
import { utcDays } from "../../exchanges/Archive.js"
import { EXCHANGES } from "../../exchanges/registry.js"
import { AppConfig, type AppConfigShape, feedConfig, pipelineOptions } from "../../layers/AppConfig.js"
import { CandleStore } from "../../layers/CandleStore.js"
import { IndicatorStore } from "../../layers/IndicatorStore.js"
import type { IndicatorRecord } from "../../schema/Indicator.js"
import { makeIndicatorComputer } from "../sinks/indicators/IndicatorComputer.js"
import { type Checkpoint, HistoryCheckpoints } from "../../layers/HistoryCheckpoints.js"
import type { CsvColumns } from "../../domain/ImportedCandle.js"
import type { Candle, Timeframe } from "../../schema/Candle.js"
import type { ExchangeId } from "../../schema/Market.js"
import { archiveDays, directorySource, urlSource } from "./ArchiveFiles.js"
import { restDaysOf } from "./RestDays.js"
import { importCsv } from "./CsvImport.js"
import { importDay } from "./ImportDay.js"
import type { Progress } from "./Progress.js"

export interface HistoryRequest {
  readonly exchange: ExchangeId
  readonly symbols: ReadonlyArray<string>
  /** `YYYY-MM-DD`, UTC, both included. */
  readonly from: string
  readonly to: string
  /**
   * The exchange's archive under a directory or a base URL (`http://`, `https://`), its REST API, or a legacy
   * OHLCV file of one timeframe.
   */
  readonly source:
    | { readonly kind: "archive"; readonly root: string }
    | { readonly kind: "rest" }
    | { readonly kind: "csv"; readonly file: string; readonly columns: CsvColumns; readonly timeframe: Timeframe }
}

/** What a run did, per day; the command exits 0 only when no day failed or differed from the exchange's klines. */
export interface HistorySummary {
  readonly loaded: number
  readonly skipped: number
  readonly failed: ReadonlyArray<string>
  readonly mismatched: ReadonlyArray<string>
}

const MINUTE_LIST = 5

/** Where the request's days come from; a failure says why the exchange cannot be read that way. */
const daySource = (
  request: HistoryRequest,
  wanted: Exclude<HistoryRequest["source"], { kind: "csv" }>,
  config: AppConfigShape,
) =>
  Effect.gen(function* () {
    const { archive } = EXCHANGES[request.exchange]
    if (wanted.kind === "archive") {
      if (archive === undefined)
        return yield* Effect.fail(
          `${request.exchange} publishes no archive the history command can read; try --source rest`,
        )
      const root = wanted.root
      return archiveDays(
        /^https?:\/\//.test(root)
          ? urlSource(root, join(config.dataDir, "history-downloads"), request.exchange)
          : directorySource(root),
        archive,
      )
    }
    // The feed's own REST settings where the exchange is in FEEDS, otherwise its <EXCHANGE>_* variables or defaults.
    const feed = config.feeds.find((f) => f.exchange === request.exchange) ?? (yield* feedConfig(request.exchange))
    const source = restDaysOf(feed)
    if (source === undefined)
      return yield* Effect.fail(`${request.exchange} has no REST trade history the history command can read`)
    return source
  })

/**
 * The candle store as the history command writes to it: each batch's final candles also go through the indicator
 * pipeline (INDICATORS) into `indicators`, as live candles do, each series warmed from the stored candles before it.
 * Days load oldest first, so a series runs on; indicators of candles stored after the loaded days (a live run's) are
 * not recomputed.
 */
const storeWithIndicators = Effect.gen(function* () {
  const config = yield* AppConfig
  const store = yield* CandleStore
  if (config.indicators.length === 0) return store
  const computer = yield* makeIndicatorComputer
  const indicators = yield* IndicatorStore
  const upsert = (candles: ReadonlyArray<Candle>) =>
    Effect.zipRight(
      store.upsert(candles),
      Effect.suspend(() => {
        const records: Array<IndicatorRecord> = []
        return computer
          .compute(candles, (rs) => Effect.sync(() => records.push(...rs)))
          .pipe(
            Effect.mapError((e) => e.cause),
            Effect.zipRight(Effect.suspend(() => indicators.upsert(records))),
          )
      }),
    )
  return { ...store, upsert } satisfies CandleStore
})

/**
 * Loads each symbol's days in order (a day continues from the one before it), skipping days a checkpoint says are
 * done. A day whose files are missing, corrupt or unreadable is marked failed and the next day loads; a database
 * that cannot be written stops the run (the day stays `running`, and the next run loads it again).
 */
export const runHistory = (request: HistoryRequest, progress: Progress) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* storeWithIndicators
    const { venue } = EXCHANGES[request.exchange]
    const checkpoints = yield* HistoryCheckpoints
    const wanted = request.source
    if (wanted.kind === "csv") {
      const csv = yield* importCsv({ ...request, ...wanted }, store, checkpoints, progress)
      return {
        loaded: csv.loaded.length,
        skipped: csv.skipped,
        failed: csv.failed,
        mismatched: [],
      } satisfies HistorySummary
    }
    const days = utcDays(request.from, request.to)
    const source = yield* daySource(request, wanted, config)
    let loaded = 0
    let skipped = 0
    const failed: Array<string> = []
    const mismatched: Array<string> = []
    for (const symbol of request.symbols)
      for (const day of days) {
        const checkpoint: Checkpoint = { exchange: request.exchange, symbol, day, source: source.name }
        const what = `${request.exchange} ${symbol} ${day}`
        if ((yield* checkpoints.state(checkpoint)) === "done") {
          skipped++
          progress.dayEnded(symbol, day, "skipped", 0, 0)
          yield* Effect.logInfo(`history: ${what} skipped, loaded by an earlier run`)
          continue
        }
        progress.dayStarted(symbol, day)
        yield* checkpoints.set(checkpoint, "running", 0, 0)
        const result = yield* Effect.either(
          importDay({
            exchange: request.exchange,
            day: {
              symbol,
              instrument: venue.instrument(symbol),
              day,
              start: Date.parse(`${day}T00:00:00Z`),
              end: Date.parse(`${day}T00:00:00Z`) + 86_400_000,
            },
            source,
            options: pipelineOptions(config),
            store,
            onTrades: (n) => Effect.sync(() => progress.trades(symbol, n)),
          }),
        )
        if (Either.isLeft(result)) {
          const error = result.left
          if (error._tag !== "DayUnreadable") return yield* error
          failed.push(what)
          yield* checkpoints.set(checkpoint, "failed", 0, 0)
          progress.dayEnded(symbol, day, "failed", 0, 0)
          yield* Effect.logError(`history: ${what} not loaded: ${error.message}; the other days go on`)
          continue
        }
        const { trades, mismatches, checked } = result.right
        loaded++
        yield* checkpoints.set(checkpoint, "done", trades, mismatches.length)
        progress.dayEnded(symbol, day, "done", trades, mismatches.length)
        if (!checked) {
          yield* Effect.logWarning(
            `history: ${what} loaded, ${trades} trade(s); not checked: ${request.exchange} publishes no 1m candles to compare with`,
          )
          continue
        }
        if (mismatches.length === 0) {
          yield* Effect.logInfo(`history: ${what} loaded, ${trades} trade(s); every 1m candle equals the exchange's`)
          continue
        }
        mismatched.push(what)
        const shown = mismatches
          .slice(0, MINUTE_LIST)
          .map((m) => `${new Date(m.minute).toISOString().slice(11, 16)} (${m.fields.join(", ")})`)
        yield* Effect.logError(
          `history: ${what} loaded, ${trades} trade(s), but ${mismatches.length} 1m candle(s) differ from the exchange's klines: ${shown.join("; ")}${mismatches.length > MINUTE_LIST ? "; …" : ""}`,
        )
      }
    return { loaded, skipped, failed, mismatched } satisfies HistorySummary
  })
