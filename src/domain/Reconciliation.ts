import type { Candle } from "../schema/Candle.js"
import * as Decimal from "./Decimal.js"

/** An exchange's own 1m candle, as its REST API gives it. */
export interface VenueCandle {
  readonly openTime: number
  readonly open: string
  readonly high: string
  readonly low: string
  readonly close: string
  readonly volume: string
  readonly quoteVolume: string
  readonly trades: number
  readonly takerBuyBase: string
  readonly takerBuyQuote: string
}

/** One field on which our candle and the exchange's disagree. */
export interface Difference {
  readonly field: string
  readonly ours: string
  readonly theirs: string
}

const DECIMAL_FIELDS = [
  "open",
  "high",
  "low",
  "close",
  "volume",
  "quoteVolume",
  "takerBuyBase",
  "takerBuyQuote",
] as const

/** Equal as decimals: exchanges pad to a fixed scale (`"19.00000000"`), we do not. */
const sameDecimal = (a: string, b: string): boolean => {
  const x = Decimal.parse(a)
  const y = Decimal.parse(b)
  if (x === undefined || y === undefined) return a === b
  const nx = Decimal.normalize(x)
  const ny = Decimal.normalize(y)
  return nx.units === ny.units && nx.scale === ny.scale
}

/**
 * Where our final 1m candle differs from the exchange's, exactly: every price and volume as a decimal, the trade
 * count as a number. A minute the exchange shows no candle for agrees only with one of ours without trades.
 */
export const differences = (ours: Candle, theirs: VenueCandle | undefined): ReadonlyArray<Difference> => {
  if (theirs === undefined)
    return ours.trades === 0 ? [] : [{ field: "candle", ours: `${ours.trades} trade(s)`, theirs: "none" }]
  const out: Array<Difference> = []
  for (const field of DECIMAL_FIELDS)
    if (!sameDecimal(ours[field], theirs[field])) out.push({ field, ours: ours[field], theirs: theirs[field] })
  if (ours.trades !== theirs.trades)
    out.push({ field: "trades", ours: String(ours.trades), theirs: String(theirs.trades) })
  return out
}

/** A stretch of consecutive minutes one request can ask for, and our candles in it. */
export interface Window {
  readonly fromTs: number
  readonly toTs: number
  readonly candles: ReadonlyArray<Candle>
}

/** Our candles (sorted by open time) split into windows of at most `maxMinutes` minutes, one request each. */
export const windows = (candles: ReadonlyArray<Candle>, maxMinutes: number): ReadonlyArray<Window> => {
  const out: Array<Window> = []
  let current: Array<Candle> = []
  for (const c of candles) {
    if (current.length > 0 && c.openTime >= current[0]!.openTime + maxMinutes * 60_000) {
      out.push({ fromTs: current[0]!.openTime, toTs: current.at(-1)!.closeTime, candles: current })
      current = []
    }
    current.push(c)
  }
  if (current.length > 0) out.push({ fromTs: current[0]!.openTime, toTs: current.at(-1)!.closeTime, candles: current })
  return out
}

/**
 * Final complete 1m candles waiting to be compared with the exchange's, per symbol by minute. A revision replaces
 * the candle it revises (and a compared minute that is revised is compared again); a minute that turned incomplete
 * is withdrawn, since a candle with trades missing is already known not to match. Bounded: past `capacity`
 * minutes per symbol (the exchange's API unreachable for long), the oldest are dropped and counted.
 */
export class DueCandles {
  private readonly bySymbol = new Map<string, Map<number, Candle>>()
  /** Minutes dropped unchecked since the last `takeDropped`, per symbol. */
  private readonly dropped = new Map<string, number>()

  /** Minutes kept per symbol; the default is a week's. */
  constructor(readonly capacity = 7 * 1_440) {}

  offer(candle: Candle): void {
    if (candle.timeframe !== "1m" || !candle.isFinal) return
    let due = this.bySymbol.get(candle.symbol)
    if (!candle.complete) {
      due?.delete(candle.openTime)
      return
    }
    if (due === undefined) {
      due = new Map()
      this.bySymbol.set(candle.symbol, due)
    }
    due.set(candle.openTime, candle)
    if (due.size > this.capacity) {
      let oldest = Number.POSITIVE_INFINITY
      for (const t of due.keys()) oldest = Math.min(oldest, t)
      due.delete(oldest)
      this.dropped.set(candle.symbol, (this.dropped.get(candle.symbol) ?? 0) + 1)
    }
  }

  /** Takes the symbol's candles that closed before `until`, oldest first. */
  take(symbol: string, until: number): ReadonlyArray<Candle> {
    const due = this.bySymbol.get(symbol)
    if (due === undefined) return []
    const out: Array<Candle> = []
    for (const c of due.values()) if (c.closeTime < until) out.push(c)
    for (const c of out) due.delete(c.openTime)
    return out.sort((a, b) => a.openTime - b.openTime)
  }

  /** Puts back candles a failed request could not check, unless a revision of the minute came in meanwhile. */
  restore(candles: ReadonlyArray<Candle>): void {
    for (const c of candles) if (!this.bySymbol.get(c.symbol)?.has(c.openTime)) this.offer(c)
  }

  symbols(): ReadonlyArray<string> {
    return [...this.bySymbol.keys()]
  }

  takeDropped(): ReadonlyMap<string, number> {
    const out = new Map(this.dropped)
    this.dropped.clear()
    return out
  }
}
