import { type Candle, periodMs, type Timeframe } from "../schema/Candle.js"
import type { ExchangeId } from "../schema/Market.js"
import * as Decimal from "./Decimal.js"

/**
 * Candles read from a legacy OHLCV file rather than built from trades carry this revision: below every candle built
 * from trades, which therefore replaces them under the store's upsert rule, and never counted complete.
 */
export const IMPORTED_REVISION = -1

/** The columns of a legacy OHLCV CSV that hold each field, by header name. */
export interface CsvColumns {
  readonly time: string
  readonly open: string
  readonly high: string
  readonly low: string
  readonly close: string
  readonly volume: string
  /** Where the file has them; otherwise stored as 0 (the candle says it was imported). */
  readonly quoteVolume?: string
  readonly trades?: string
  /** Where one file holds several symbols. */
  readonly symbol?: string
}

export const CSV_FIELDS = ["time", "open", "high", "low", "close", "volume", "quoteVolume", "trades", "symbol"] as const

/** A field's name in `--columns`: the table's column names, so `quote_volume=qv` maps `quoteVolume`. */
export const csvFieldName = (field: (typeof CSV_FIELDS)[number]): string =>
  field === "quoteVolume" ? "quote_volume" : field

/**
 * Epoch seconds, milliseconds or microseconds by their digit count (as Binance's own files moved from ms to µs),
 * or an ISO 8601 date and time, UTC unless it names an offset.
 */
export const parseTime = (text: string): number | undefined => {
  const t = text.trim()
  if (/^\d+$/.test(t)) {
    const n = Number(t)
    if (t.length <= 11) return n * 1_000
    if (t.length <= 14) return n
    if (t.length <= 17) return Math.floor(n / 1_000)
    return undefined
  }
  const iso = t.replace(" ", "T")
  const ms = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`)
  return Number.isNaN(ms) ? undefined : ms
}

const amount = (row: Record<string, string>, column: string, what: string, positive: boolean) => {
  const text = (row[column] ?? "").trim()
  const d = Decimal.parse(text)
  if (d === undefined) return `${what} ${JSON.stringify(text)} (column ${column}) is not a decimal number`
  if (Decimal.compare(d, { units: 0n, scale: 0 }) < (positive ? 1 : 0))
    return `${what} ${text} (column ${column}) must be ${positive ? "above" : "at least"} 0`
  return d
}

/**
 * One row of a legacy OHLCV CSV as a final candle of `timeframe`, marked imported; or why the row cannot be one (a
 * field missing or not a number, a time off the timeframe's grid, a high below the others or a low above them).
 */
export const importedCandle = (
  row: Record<string, string>,
  columns: CsvColumns,
  exchange: ExchangeId,
  symbol: string,
  timeframe: Timeframe,
): Candle | string => {
  const raw = row[columns.time]
  if (raw === undefined) return `no column ${columns.time} for the time`
  const openTime = parseTime(raw)
  if (openTime === undefined)
    return `time ${JSON.stringify(raw)} (column ${columns.time}) is neither epoch nor ISO 8601`
  const period = periodMs(timeframe)
  if (openTime % period !== 0)
    return `time ${raw} is not the open of a ${timeframe} candle (${new Date(openTime).toISOString()})`
  const prices = [columns.open, columns.high, columns.low, columns.close].map((c, i) =>
    amount(row, c, ["open", "high", "low", "close"][i]!, true),
  )
  const volume = amount(row, columns.volume, "volume", false)
  const quoteVolume =
    columns.quoteVolume === undefined
      ? { units: 0n, scale: 0 }
      : amount(row, columns.quoteVolume, "quote volume", false)
  for (const p of [...prices, volume, quoteVolume]) if (typeof p === "string") return p
  const [open, high, low, close] = prices as Array<Decimal.Decimal>
  if ([open, low, close].some((p) => Decimal.compare(high!, p!) < 0))
    return `high ${row[columns.high]} is below another price`
  if ([open, close].some((p) => Decimal.compare(low!, p!) > 0)) return `low ${row[columns.low]} is above another price`
  let trades = 0
  if (columns.trades !== undefined) {
    trades = Number((row[columns.trades] ?? "").trim())
    if (!Number.isSafeInteger(trades) || trades < 0)
      return `trades ${JSON.stringify(row[columns.trades])} (column ${columns.trades}) is not a whole number ≥ 0`
  }
  const text = (d: Decimal.Decimal) => Decimal.format(Decimal.normalize(d))
  const v = volume as Decimal.Decimal
  const q = quoteVolume as Decimal.Decimal
  return {
    exchange,
    symbol,
    timeframe,
    openTime,
    closeTime: openTime + period - 1,
    open: text(open!),
    high: text(high!),
    low: text(low!),
    close: text(close!),
    volume: text(v),
    quoteVolume: text(q),
    trades,
    takerBuyBase: "0",
    takerBuyQuote: "0",
    vwap: columns.quoteVolume === undefined ? null : (Decimal.divideToText(q, v, 18) ?? null),
    isFinal: true,
    revision: IMPORTED_REVISION,
    complete: false,
    lastTradeId: "",
  }
}
