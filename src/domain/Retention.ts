import { periodMs, Timeframe } from "../schema/Candle.js"
import { Schema } from "effect"

/** How long a timeframe's rows are kept; undefined = forever. */
export type RetentionTable = ReadonlyMap<Timeframe, number | undefined>

const DAY = 86_400_000

/** The data-architecture seed's table (sections 3.1 and 5.3): 1m 6 months, 5m 2 years, 1h 5 years, 1d forever. */
export const SEED_RETENTION = "1m=180d,5m=730d,1h=1825d,1d=forever"

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: DAY }

/** `1m=180d,5m=730d,1d=forever` → the table, or the reason it is not one. */
export const parseRetention = (spec: string): RetentionTable | string => {
  const table = new Map<Timeframe, number | undefined>()
  for (const entry of spec
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e.length > 0)) {
    const m = /^([0-9a-z]+)=(?:(forever)|(\d+)(ms|s|m|h|d))$/.exec(entry)
    if (m === null) return `${entry}: expected <timeframe>=<number><ms|s|m|h|d> or <timeframe>=forever`
    const tf = m[1]!
    if (!Schema.is(Timeframe)(tf)) return `${entry}: unknown timeframe ${tf}`
    table.set(tf, m[2] === undefined ? Number(m[3]) * UNITS[m[4]!]! : undefined)
  }
  return table.size === 0 ? "no timeframe listed" : table
}

/**
 * A timeframe's retention: its own entry, else that of the longest listed timeframe shorter than it (3m follows
 * 1m, 4h follows 1h), else the shortest listed one's.
 */
export const retentionOf = (table: RetentionTable, tf: Timeframe): number | undefined => {
  if (table.has(tf)) return table.get(tf)
  const listed = [...table.keys()].sort((a, b) => periodMs(a) - periodMs(b))
  const shorter = listed.filter((l) => periodMs(l) < periodMs(tf)).at(-1)
  return table.get(shorter ?? listed[0]!)
}
