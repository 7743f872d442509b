import type { Bar, Calculator, Outputs } from "./Calculators.js"
import type { IndicatorSet } from "./IndicatorSet.js"

/** A final candle as the indicators see it: its open time and the prices they read. */
export interface IndicatorCandle extends Bar {
  readonly openTime: number
  /** The candle's revision, carried to its row; the values never depend on it. */
  readonly revision?: number
}

/** One candle's indicator values: every chosen indicator that has its history by then. */
export interface IndicatorRow {
  readonly openTime: number
  readonly revision: number
  readonly values: Readonly<Outputs>
}

export type Applied =
  /** New rows and rows whose values changed, oldest first (empty when nothing changed). */
  | { readonly _tag: "Rows"; readonly rows: ReadonlyArray<IndicatorRow> }
  /** The candle is older than the candles kept for revisions: its indicators stay as they are. */
  | { readonly _tag: "TooOld"; readonly oldestKept: number }

const sameValues = (a: Readonly<Outputs> | undefined, b: Readonly<Outputs>): boolean => {
  if (a === undefined) return false
  const keys = Object.keys(b)
  if (Object.keys(a).length !== keys.length) return false
  for (const k of keys) if (!Object.is(a[k], b[k])) return false
  return true
}

/**
 * The indicators of one exchange, symbol and timeframe, fed its final candles in time order. It keeps the last
 * `keep` candles and a copy of the calculators' state every `checkpointEvery` candles, so that a revised (or a
 * late-inserted) candle among them is recomputed from the checkpoint before it, without a rebuild from the start.
 */
export class IndicatorSeries {
  private calculators: Array<Calculator>
  private readonly candles: Array<IndicatorCandle> = []
  /** State before candles[i], for the indexes that are multiples of `checkpointEvery` (relative to `dropped`). */
  private readonly checkpoints = new Map<number, ReadonlyArray<Calculator>>()
  /** Candles dropped from the front, so that checkpoint indexes stay absolute. */
  private dropped = 0

  constructor(
    private readonly set: IndicatorSet,
    private readonly keep: number,
    private readonly checkpointEvery = 32,
  ) {
    this.calculators = set.calculators()
  }

  /** The number of candles held for revisions. */
  get size(): number {
    return this.candles.length
  }

  apply(candle: IndicatorCandle): Applied {
    const last = this.candles.at(-1)
    if (last === undefined || candle.openTime > last.openTime) return { _tag: "Rows", rows: this.append(candle) }
    const first = this.candles[0]!
    if (candle.openTime < first.openTime) return { _tag: "TooOld", oldestKept: first.openTime }
    return { _tag: "Rows", rows: this.revise(candle) }
  }

  private append(candle: IndicatorCandle): Array<IndicatorRow> {
    const index = this.dropped + this.candles.length
    if (index % this.checkpointEvery === 0)
      this.checkpoints.set(
        index,
        this.calculators.map((c) => c.clone()),
      )
    this.candles.push(candle)
    const row = this.row(this.calculators, candle)
    this.trim()
    return row === undefined ? [] : [row]
  }

  /** Replays from the checkpoint before the candle, old and new side by side, and keeps the rows that differ. */
  private revise(candle: IndicatorCandle): Array<IndicatorRow> {
    const at = this.candles.findIndex((c) => c.openTime >= candle.openTime)
    const existing = this.candles[at]!
    const replaces = existing.openTime === candle.openTime
    if (replaces && existing.high === candle.high && existing.low === candle.low && existing.close === candle.close)
      return []
    const from = Math.floor((this.dropped + at) / this.checkpointEvery) * this.checkpointEvery
    const start = this.checkpoints.get(from)!
    const oldRows = new Map<number, Outputs>()
    const before = start.map((c) => c.clone())
    for (const c of this.candles.slice(from - this.dropped)) {
      const row = this.row(before, c)
      if (row !== undefined) oldRows.set(c.openTime, row.values)
    }
    this.candles.splice(at, replaces ? 1 : 0, candle)
    for (const index of this.checkpoints.keys()) if (index > from) this.checkpoints.delete(index)
    const after = start.map((c) => c.clone())
    const changed: Array<IndicatorRow> = []
    for (let i = from - this.dropped; i < this.candles.length; i++) {
      const index = this.dropped + i
      if (index > from && index % this.checkpointEvery === 0)
        this.checkpoints.set(
          index,
          after.map((c) => c.clone()),
        )
      const c = this.candles[i]!
      const row = this.row(after, c)
      if (row !== undefined && c.openTime >= candle.openTime && !sameValues(oldRows.get(c.openTime), row.values))
        changed.push(row)
    }
    this.calculators = after
    this.trim()
    return changed
  }

  private row(calculators: ReadonlyArray<Calculator>, candle: IndicatorCandle): IndicatorRow | undefined {
    const all: Outputs = {}
    for (const c of calculators) c.push(candle, all)
    const values: Outputs = {}
    let any = false
    for (const name of this.set.names)
      if (name in all) {
        values[name] = all[name]!
        any = true
      }
    return any ? { openTime: candle.openTime, revision: candle.revision ?? 0, values } : undefined
  }

  /** Drops whole checkpoint intervals once more than `keep` candles are held, so a checkpoint always leads them. */
  private trim(): void {
    while (this.candles.length - this.checkpointEvery >= this.keep) {
      this.candles.splice(0, this.checkpointEvery)
      this.checkpoints.delete(this.dropped)
      this.dropped += this.checkpointEvery
    }
  }
}
