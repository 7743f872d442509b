import type { VenueCandle } from "../domain/Reconciliation.js"
import type { Trade } from "../schema/Market.js"

/** Where a day's file lies under the archive's root, relative, with `/` separators. */
export type ArchivePath = string

/**
 * An exchange's public data archive: a file of trades and a file of 1m candles per symbol and UTC day, each a ZIP
 * holding one CSV, with a `.CHECKSUM` beside it. Pure: the history command does the reading.
 */
export interface Archive {
  /** The day's trades file of an instrument (the exchange's name of the symbol); `day` is `YYYY-MM-DD`. */
  readonly tradesPath: (instrument: string, day: string) => ArchivePath
  readonly klinesPath: (instrument: string, day: string) => ArchivePath
  /** One CSV row of the trades file; a header row is `undefined`, a row that is not a trade the reason. */
  readonly trade: (row: ReadonlyArray<string>, symbol: string, recvTs: number) => Trade | string | undefined
  readonly kline: (row: ReadonlyArray<string>) => VenueCandle | string | undefined
}

/** The SHA-256 a `.CHECKSUM` file names (`<hex>  <file name>`), undefined when it names none. */
export const checksumOf = (text: string): string | undefined =>
  /^([0-9a-f]{64})\b/i.exec(text.trim())?.[1]?.toLowerCase()

/** `YYYY-MM-DD` of each UTC day from `from` to `to`, both included. */
export const utcDays = (from: string, to: string): ReadonlyArray<string> => {
  const days: Array<string> = []
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000)
    days.push(new Date(t).toISOString().slice(0, 10))
  return days
}

/** A time in an archive file: milliseconds in older files, microseconds in newer ones. */
export const archiveMillis = (text: string): number => {
  const n = Number(text)
  return n >= 1e14 ? Math.floor(n / 1_000) : n
}
