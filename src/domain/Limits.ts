/**
 * Bounds on what an exchange frame may carry. Past them a value is hostile or broken, never market data, and it is
 * refused at the edge before it can reach the gap detector, the watermark or a store: one trade timed in the year
 * 275760 would otherwise move the watermark past every candle, and an id 10^15 ahead would make every real trade
 * after it a "duplicate".
 */

/** Decimal texts longer than this are refused before they are read (exchanges send at most ~25 characters). */
export const MAX_DECIMAL_CHARS = 40

/** Trade ids longer than this are refused (Bybit's UUIDs are 36; the rest are numbers). */
export const MAX_ID_CHARS = 64

/** The first Bitcoin block (2009-01-03): no crypto trade is older, so an earlier time is a broken one. */
export const EARLIEST_TRADE_TS = Date.UTC(2009, 0, 3)

/**
 * The most ids a venue's contiguous numbering may skip between two trades a feed sees. A day of the busiest
 * symbol is ~10^8 trades; a larger jump is a corrupt id, and accepting it would turn every later trade into a
 * duplicate of it.
 */
export const MAX_ID_JUMP = 10_000_000_000

/** How deep a refused frame is walked to explain it; deeper values are described, not printed. */
export const MAX_EXPLAIN_DEPTH = 32

/** Characters of a frame or value that go into a log line or an error detail. */
export const PREVIEW_CHARS = 160

/** The largest time a Date holds; `toISOString` throws past it. */
const MAX_DATE_MS = 8.64e15

/** ISO-8601 where a Date can show the time, the number itself where it cannot: never throws. */
export const isoOrNumber = (ms: number): string =>
  Number.isFinite(ms) && Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : String(ms)

/** Why an exchange time is refused (not whole milliseconds, before EARLIEST_TRADE_TS, too far ahead of `now`). */
export const timeRefusal = (ts: number, now: number, futureToleranceMs: number): string | undefined =>
  !Number.isSafeInteger(ts)
    ? `time ${ts} is not a whole number of milliseconds`
    : ts < EARLIEST_TRADE_TS
      ? `time ${isoOrNumber(ts)} is before ${isoOrNumber(EARLIEST_TRADE_TS)}`
      : ts > now + futureToleranceMs
        ? `time ${isoOrNumber(ts)} is more than ${futureToleranceMs} ms ahead of ${isoOrNumber(now)}`
        : undefined

/**
 * Whether a value nests deeper than `max` (arrays and objects), walked without recursion and without visiting more
 * than a bounded number of nodes, so that it is safe on any parsed frame.
 */
export const nestsDeeperThan = (u: unknown, max: number): boolean => {
  const stack: Array<{ readonly v: unknown; readonly depth: number }> = [{ v: u, depth: 0 }]
  let visited = 0
  while (stack.length > 0 && visited++ < 10_000) {
    const { v, depth } = stack.pop()!
    if (typeof v !== "object" || v === null) continue
    if (depth >= max) return true
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ v: child, depth: depth + 1 })
  }
  return false
}

/** A text an exchange sent, cut to `max` characters for a log line. */
export const clip = (text: string, max: number = PREVIEW_CHARS): string =>
  text.length > max ? `${text.slice(0, max)}…` : text

/**
 * A short, printable rendering of any value for a log line or error detail; never throws (JSON.stringify recurses
 * and throws on deep nesting, BigInt and cycles) and never longer than `max` characters plus an ellipsis.
 */
export const preview = (u: unknown, max: number = PREVIEW_CHARS): string => {
  let text: string
  if (typeof u === "string") text = JSON.stringify(u.length > max ? u.slice(0, max) : u)
  else if (nestsDeeperThan(u, MAX_EXPLAIN_DEPTH)) text = `(a value nested more than ${MAX_EXPLAIN_DEPTH} levels deep)`
  else
    try {
      text = JSON.stringify(u) ?? String(u)
    } catch (e) {
      text = `(unprintable: ${e instanceof Error ? e.message : String(e)})`
    }
  return text.length > max ? `${text.slice(0, max)}…` : text
}
