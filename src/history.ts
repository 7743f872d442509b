import { parseArgs } from "node:util"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, Exit, Layer, Schema } from "effect"
import { type HistoryRequest, runHistory } from "./actors/history/History.js"
import { makeProgress } from "./actors/history/Progress.js"
import { utcDays } from "./exchanges/Archive.js"
import { SUPPORTED_EXCHANGES } from "./exchanges/registry.js"
import { AppConfigLive, configFailure } from "./layers/AppConfig.js"
import { CandleStore } from "./layers/CandleStore.js"
import { IndicatorStore } from "./layers/IndicatorStore.js"
import { HistoryCheckpoints } from "./layers/HistoryCheckpoints.js"
import { LoggingLive } from "./layers/Logging.js"
import { PostgresLive } from "./layers/Postgres.js"
import { CSV_FIELDS, type CsvColumns, csvFieldName } from "./domain/ImportedCandle.js"
import { Timeframe } from "./schema/Candle.js"
import { ExchangeId } from "./schema/Market.js"

const HELP = `node dist/history.js --exchange binance --symbols BTC/USDT,ETH/USDT --from 2024-01-01 --to 2024-01-31 \\
  --source archive <DIR>

Loads an exchange's trades over UTC days into the daemon's stores through the daemon's own candle path, and checks
each day's 1m candles against the exchange's klines. Configured by the daemon's environment (DATABASE_URL, TIMEFRAMES,
CANDLE_GRACE_MS, CANDLE_EMPTY, LOG_LEVEL, ...).

  --exchange NAME     ${SUPPORTED_EXCHANGES.join(", ")} (default binance; the archive source is Binance's)
  --symbols LIST      unified symbols, comma-separated, e.g. BTC/USDT,ETH/USDT
  --from DAY --to DAY UTC days, YYYY-MM-DD, both included
  --source archive DIR|URL
                      Binance's public-data layout under DIR, or under a base URL such as
                      https://data.binance.vision/data (downloaded file by file, with its .CHECKSUM):
                        spot/daily/aggTrades/<SYMBOL>/<SYMBOL>-aggTrades-<DAY>.zip (+ .CHECKSUM)
                        spot/daily/klines/<SYMBOL>/1m/<SYMBOL>-1m-<DAY>.zip (+ .CHECKSUM)
  --source rest       the exchange's REST trade history, found by time, within <EXCHANGE>_REST_WEIGHT_PER_MINUTE
                      at <EXCHANGE>_REST_URL (Binance aggTrades, Kraken trades); checked against its 1m klines
                      where it publishes them (Binance)
  --source csv FILE   a legacy OHLCV CSV (the seed's migration), with a header row, of one timeframe:
    [--timeframe TF]  1m unless given (one of TIMEFRAMES' values, e.g. 1h)
    [--columns MAP]   which header holds each field, e.g. time=open_time,volume=base_volume; by default each
                      field's own name: time, open, high, low, close, volume, and where the header has them
                      quote_volume, trades and symbol (needed when the file holds several symbols). time is epoch
                      s, ms or µs, or ISO 8601 (UTC unless it says otherwise). These candles are stored marked
                      imported (revision -1, complete false): any candle built from trades replaces them
  --help              this text

Each symbol and day is checkpointed in history_checkpoints: a rerun skips the days already done and loads the rest
again from their start (writes are upserts, so nothing counts twice). Progress: a bar per symbol on a terminal,
JSON lines otherwise. Exit status 0 when every day loaded and matched the exchange's klines, 1 when a day failed or
differed (a summary names them), 2 for a command line it cannot use.`

const DAY = /^\d{4}-\d{2}-\d{2}$/

/** `--columns time=open_time,volume=vol`: each field the header it is read from, by default its own name. */
const csvColumns = (map: string): CsvColumns | string => {
  const names = new Map(CSV_FIELDS.map((f) => [csvFieldName(f), f]))
  const chosen: Partial<Record<(typeof CSV_FIELDS)[number], string>> = {}
  for (const pair of map.split(",").filter((p) => p.trim() !== "")) {
    const [name, header] = pair.split("=", 2).map((x) => x.trim())
    const field = names.get(name ?? "")
    if (field === undefined || header === undefined || header === "")
      return `--columns ${pair}: expected <field>=<header>, field one of ${[...names.keys()].join(", ")}`
    chosen[field] = header
  }
  return {
    time: chosen.time ?? "time",
    open: chosen.open ?? "open",
    high: chosen.high ?? "high",
    low: chosen.low ?? "low",
    close: chosen.close ?? "close",
    volume: chosen.volume ?? "volume",
    ...(chosen.quoteVolume === undefined ? {} : { quoteVolume: chosen.quoteVolume }),
    ...(chosen.trades === undefined ? {} : { trades: chosen.trades }),
    ...(chosen.symbol === undefined ? {} : { symbol: chosen.symbol }),
  }
}

/** The request the command line asks for, or why it cannot be used. */
const request = (argv: ReadonlyArray<string>): HistoryRequest | "help" | string => {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: false,
    options: {
      exchange: { type: "string", default: "binance" },
      symbols: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      source: { type: "string" },
      columns: { type: "string" },
      timeframe: { type: "string", default: "1m" },
      help: { type: "boolean" },
    },
  })
  if (values.help === true) return "help"
  const exchange = String(values.exchange)
  if (!ExchangeId.literals.some((id) => id === exchange))
    return `--exchange ${exchange} is not one of ${SUPPORTED_EXCHANGES.join(", ")}`
  const symbols = String(values.symbols ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
  if (symbols.length === 0) return "--symbols is required, e.g. --symbols BTC/USDT,ETH/USDT"
  const bad = symbols.filter((s) => !/^[A-Z0-9]+\/[A-Z0-9]+$/.test(s))
  if (bad.length > 0) return `--symbols: ${bad.join(", ")} is not BASE/QUOTE (e.g. BTC/USDT)`
  const [from, to] = [String(values.from ?? ""), String(values.to ?? "")]
  if (!DAY.test(from) || !DAY.test(to) || Number.isNaN(Date.parse(from)) || Number.isNaN(Date.parse(to)))
    return "--from and --to are required, as UTC days YYYY-MM-DD"
  if (from > to) return `--from ${from} is after --to ${to}`
  if (values.source === "rest") return { exchange: exchange as ExchangeId, symbols, from, to, source: { kind: "rest" } }
  if (values.source === "csv") {
    const file = positionals[0]
    if (file === undefined) return "--source csv needs the file, e.g. --source csv candles.csv"
    const timeframe = String(values.timeframe)
    if (!Schema.is(Timeframe)(timeframe)) return `--timeframe ${timeframe} is not a timeframe such as 1m, 5m, 1h or 1d`
    const columns = csvColumns(String(values.columns ?? ""))
    if (typeof columns === "string") return columns
    if (columns.symbol === undefined && symbols.length > 1)
      return "--symbols names several symbols: map the file's symbol column with --columns symbol=<header>"
    return {
      exchange: exchange as ExchangeId,
      symbols,
      from,
      to,
      source: { kind: "csv", file, columns, timeframe },
    }
  }
  if (values.source !== "archive")
    return `--source ${String(values.source ?? "")}: use --source archive <DIR|URL>, --source rest or --source csv <FILE>`
  const root = positionals[0]
  if (root === undefined)
    return "--source archive needs the archive's directory or base URL, e.g. --source archive https://data.binance.vision/data"
  return { exchange: exchange as ExchangeId, symbols, from, to, source: { kind: "archive", root } }
}

const asked = request(process.argv.slice(2))
if (asked === "help") {
  process.stdout.write(`${HELP}\n`)
} else if (typeof asked === "string") {
  process.stderr.write(`history: ${asked}\n(node dist/history.js --help lists the options)\n`)
  process.exitCode = 2
} else {
  const progress = makeProgress(asked.symbols, utcDays(asked.from, asked.to).length, process.stdout.isTTY === true)
  const program = runHistory(asked, progress).pipe(
    Effect.ensuring(Effect.sync(() => progress.stop())),
    Effect.tap((s) =>
      Effect.gen(function* () {
        const problems = [...s.failed.map((d) => `${d} failed`), ...s.mismatched.map((d) => `${d} differs`)]
        yield* Effect.logInfo(
          `history: ${s.loaded} day(s) loaded, ${s.skipped} skipped as done before${problems.length > 0 ? `; ${problems.join("; ")}` : ""}`,
        )
        if (problems.length > 0) process.exitCode = 1
      }),
    ),
    Effect.onInterrupt(() =>
      Effect.sync(() => process.stderr.write("history: stopped; the days done are checkpointed, a rerun resumes\n")),
    ),
    Effect.tapErrorCause((cause) =>
      Effect.sync(() => {
        const config = configFailure(cause)
        process.stderr.write(`history: ${config ?? Cause.pretty(cause)}\n`)
      }),
    ),
    Effect.provide(
      Layer.mergeAll(CandleStore.Default, IndicatorStore.Default, HistoryCheckpoints.Default).pipe(
        Layer.provideMerge(PostgresLive),
        Layer.provideMerge(LoggingLive),
        Layer.provideMerge(AppConfigLive),
      ),
    ),
  )
  NodeRuntime.runMain(program, {
    disableErrorReporting: true,
    disablePrettyLogger: true,
    // Ctrl-C exits 130, as an interrupted command does; a run with failed or differing days exits 1.
    teardown: (exit, onExit) =>
      onExit(Exit.isSuccess(exit) ? Number(process.exitCode ?? 0) : Cause.isInterruptedOnly(exit.cause) ? 130 : 1),
  })
}
