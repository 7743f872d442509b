import { bucketStart, type Candle, MINUTE, periodMs, type Timeframe } from "../schema/Candle.js"
import type { ExchangeId } from "../schema/Market.js"
import { CandleBuilder, type CandleTrade, type StoredValues } from "./CandleBuilder.js"
import { SeenTrades } from "./SeenTrades.js"

/** An idle stretch longer than a day is a session break (a replay of old data, a long outage), not empty minutes. */
const MAX_FLAT_FILL = 1_440 * MINUTE

export interface AggregatorOptions {
  /** Timeframes to emit; 1m candles are always built because every other timeframe is rolled up from them. */
  readonly timeframes: ReadonlyArray<Timeframe>
  readonly graceMs: number
  readonly emptyCandles: "flat" | "skip"
  /** How long after its close a final candle can still be amended; older trades are refused as too late. */
  readonly amendHorizonMs: number
  /**
   * How far back an unfilled gap (an outage, a restart's downtime) keeps its candles for the trades that fill it,
   * past the amend horizon: trades inside such a gap are never too late. Older gaps give way to the amend horizon.
   */
  readonly repairHorizonMs: number
}

export type TradeOutcome = "accepted" | "late" | "duplicate" | "tooLate"

/** A stretch of trade time in which trades are known or suspected missing; `toTs` may be +∞ (an open outage). */
export interface GapRange {
  readonly fromTs: number
  readonly toTs: number
}

interface Level {
  readonly timeframe: Timeframe
  readonly period: number
  readonly emit: boolean
  readonly open: Map<number, CandleBuilder>
  readonly finals: Map<number, CandleBuilder>
}

/**
 * Candles of one exchange+symbol for every timeframe, driven only by the trades and watermarks it is handed.
 * Time is an argument, never read, so the clock-driven actor around it and the tests decide when it advances.
 */
export class CandleAggregator {
  private watermark = Number.NEGATIVE_INFINITY
  /** Open time of the newest final 1m candle. */
  private lastFinal = Number.NEGATIVE_INFINITY
  /** Close of the newest non-empty final 1m candle: what an empty minute repeats. */
  private lastPrice: string | undefined
  private readonly minute: Level
  private readonly higher: ReadonlyArray<Level>
  private readonly seen = new SeenTrades()
  /** Final candles changed since they were emitted: late trades and gaps found after the fact. */
  private readonly amended = new Map<CandleBuilder, Level>()
  private readonly emitted = new WeakSet<CandleBuilder>()
  /** Unfilled gaps by key: a candle is complete exactly when none of them overlaps it. */
  private readonly gaps = new Map<string, GapRange>()

  constructor(
    readonly exchange: ExchangeId,
    readonly symbol: string,
    private readonly options: AggregatorOptions,
  ) {
    const level = (timeframe: Timeframe): Level => ({
      timeframe,
      period: periodMs(timeframe),
      emit: options.timeframes.includes(timeframe),
      open: new Map(),
      finals: new Map(),
    })
    this.minute = level("1m")
    this.higher = [...new Set(options.timeframes)]
      .filter((tf) => tf !== "1m")
      .sort((a, b) => periodMs(a) - periodMs(b))
      .map(level)
  }

  addTrade(t: CandleTrade): TradeOutcome {
    if (t.exchangeTs < this.watermark - this.options.amendHorizonMs && !this.inRepairableGap(t.exchangeTs))
      return "tooLate"
    if (!this.seen.add(t.seq, t.tradeId, t.exchangeTs)) return "duplicate"
    const b = bucketStart(t.exchangeTs, MINUTE)
    if (b > this.lastFinal) {
      this.openBuilder(this.minute, b).addTrade(t)
      return "accepted"
    }
    for (const level of [this.minute, ...this.higher]) this.builderForLate(level, t.exchangeTs).addTrade(t)
    return "late"
  }

  /**
   * Trades between `fromTs` and `toTs` are missing (a trade-id gap, an outage): every candle that overlaps that
   * range is incomplete until `closeGap(key)`. Final candles it touches are re-emitted.
   */
  openGap(key: string, range: GapRange): void {
    if (this.gaps.has(key)) return
    this.gaps.set(key, range)
    this.recheck(range, true)
  }

  /** The gap was filled (its trades were added) or found empty: candles it alone made incomplete are complete again. */
  closeGap(key: string): void {
    const range = this.gaps.get(key)
    if (range === undefined) return
    this.gaps.delete(key)
    this.recheck(range, false)
  }

  /**
   * Picks up after a restart from the stored final 1m candles up to the last one stored (oldest first, covering
   * at least the open part of every higher timeframe): the minutes are final, and each higher timeframe's open
   * candle holds the minutes it already had, so it comes out exactly as if the process had never stopped. A stored
   * minute that cannot be read is left out and treated as a gap (the higher candles it belongs to are incomplete);
   * the open times of those minutes are returned, for the caller to report.
   */
  restore(minutes: ReadonlyArray<StoredValues>): ReadonlyArray<number> {
    const last = minutes.at(-1)
    if (last === undefined || this.lastFinal !== Number.NEGATIVE_INFINITY) return []
    this.lastFinal = last.openTime
    const unreadable: Array<number> = []
    for (const m of minutes) {
      const builder = CandleBuilder.fromCandle(m)
      if (builder === undefined) unreadable.push(m.openTime)
      else this.lastPrice = m.close
      if (builder === undefined || !m.complete)
        this.gaps.set(`restored:${m.openTime}`, { fromTs: m.openTime, toTs: m.closeTime })
      if (builder === undefined) continue
      for (const level of this.higher) {
        const hb = bucketStart(m.openTime, level.period)
        if (hb + level.period - 1 > last.closeTime) this.openBuilder(level, hb).merge(builder)
      }
    }
    return unreadable
  }

  /**
   * Moves event time to `watermark`: finalises every candle with closeTime + grace ≤ watermark (filling empty
   * minutes), rolls 1m candles into the higher timeframes, and appends what changed to `out`.
   */
  advance(watermark: number, out: Array<Candle>): void {
    if (watermark > this.watermark) {
      this.watermark = watermark
      const dueLast = bucketStart(watermark - this.options.graceMs - MINUTE + 1, MINUTE)
      if (dueLast > this.lastFinal) {
        this.finaliseMinutes(dueLast, out)
        for (const level of this.higher) this.finaliseDue(level, out)
        this.evict(this.keptFrom())
      }
    }
    for (const [builder, level] of this.amended) this.emit(builder, level, out)
    this.amended.clear()
  }

  /** The watermark at which `advance` next has something to finalise; +∞ when nothing is pending. */
  nextDeadline(): number {
    let first = Number.POSITIVE_INFINITY
    for (const b of this.minute.open.keys()) if (b < first) first = b
    if (this.fillsEmpty) first = Math.min(first, this.lastFinal + MINUTE)
    let deadline = first + MINUTE - 1 + this.options.graceMs
    for (const level of this.higher)
      for (const hb of level.open.keys()) deadline = Math.min(deadline, hb + level.period - 1 + this.options.graceMs)
    return deadline
  }

  /** Snapshots of the candles still open (isFinal=false), e.g. to store what a shutdown would otherwise lose. */
  snapshotOpen(out: Array<Candle>): void {
    const minutes = [...this.minute.open.values()].filter((b) => !b.isEmpty)
    const snapshot = (b: CandleBuilder, timeframe: Timeframe) => {
      b.complete = this.isComplete(b)
      out.push(b.build(this.exchange, this.symbol, timeframe))
    }
    if (this.minute.emit) for (const b of minutes) snapshot(b, "1m")
    for (const level of this.higher) {
      const buckets = new Map<number, CandleBuilder>()
      const bucket = (hb: number) => {
        const existing = buckets.get(hb)
        if (existing !== undefined) return existing
        const created = new CandleBuilder(hb, hb + level.period - 1)
        buckets.set(hb, created)
        return created
      }
      for (const [hb, open] of level.open) bucket(hb).merge(open)
      for (const m of minutes) bucket(bucketStart(m.openTime, level.period)).merge(m)
      if (level.emit) for (const s of buckets.values()) if (!s.isEmpty) snapshot(s, level.timeframe)
    }
  }

  private get fillsEmpty(): boolean {
    return this.options.emptyCandles === "flat" && this.lastPrice !== undefined
  }

  private finaliseMinutes(dueLast: number, out: Array<Candle>): void {
    const pending = [...this.minute.open.keys()].filter((b) => b <= dueLast).sort((a, b) => a - b)
    let i = 0
    let b = this.lastFinal === Number.NEGATIVE_INFINITY ? (pending[0] ?? dueLast + MINUTE) : this.lastFinal + MINUTE
    while (b <= dueLast) {
      let builder = this.minute.open.get(b)
      if (builder !== undefined) {
        this.minute.open.delete(b)
        i++
      } else if (this.fillsEmpty || (this.lastPrice !== undefined && this.overlapsGap(b, b + MINUTE - 1))) {
        builder = new CandleBuilder(b, b + MINUTE - 1)
      }
      if (builder !== undefined) this.finaliseMinute(builder, out)
      this.lastFinal = b
      const nextOpen = pending[i] ?? Number.POSITIVE_INFINITY
      const stop = Math.min(nextOpen, dueLast + MINUTE)
      const stepEach = this.fillsEmpty || (this.lastPrice !== undefined && this.overlapsGap(b + MINUTE, stop - 1))
      b = stepEach && stop - b <= MAX_FLAT_FILL ? b + MINUTE : stop
    }
    this.lastFinal = Math.max(this.lastFinal, dueLast)
  }

  private finaliseMinute(builder: CandleBuilder, out: Array<Candle>): void {
    if (builder.isEmpty) builder.flatPrice ??= this.lastPrice
    builder.isFinal = true
    this.minute.finals.set(builder.openTime, builder)
    this.emit(builder, this.minute, out)
    this.lastPrice = builder.lastPrice ?? this.lastPrice
    for (const level of this.higher) this.openBuilder(level, bucketStart(builder.openTime, level.period)).merge(builder)
  }

  private finaliseDue(level: Level, out: Array<Candle>): void {
    for (const [hb, builder] of level.open) {
      if (hb + level.period - 1 + this.options.graceMs > this.watermark) continue
      level.open.delete(hb)
      builder.isFinal = true
      level.finals.set(hb, builder)
      this.emit(builder, level, out)
    }
  }

  private emit(builder: CandleBuilder, level: Level, out: Array<Candle>): void {
    builder.complete = this.isComplete(builder)
    // An empty candle is shown flat (or, in skip mode, only when a gap makes it incomplete) and only once there is a
    // previous close to repeat: a candle without any price is not a candle.
    const visible = builder.isEmpty
      ? builder.flatPrice !== undefined && (this.options.emptyCandles === "flat" || !builder.complete)
      : true
    if (!level.emit || !visible) return
    if (this.emitted.has(builder)) builder.revision++
    else this.emitted.add(builder)
    out.push(builder.build(this.exchange, this.symbol, level.timeframe))
  }

  private openBuilder(level: Level, b: number): CandleBuilder {
    let builder = level.open.get(b)
    if (builder === undefined) {
      builder = new CandleBuilder(b, b + level.period - 1)
      level.open.set(b, builder)
    }
    return builder
  }

  /**
   * The candle a late trade at `ts` belongs to: still open at this level (built or not: a higher timeframe's period
   * may not have closed although the minute has), already final, or final but never built.
   */
  private builderForLate(level: Level, ts: number): CandleBuilder {
    const b = bucketStart(ts, level.period)
    const open = level.open.get(b)
    if (open !== undefined) return open
    let builder = level.finals.get(b)
    if (builder === undefined && level !== this.minute && b + level.period - 1 + this.options.graceMs > this.watermark)
      return this.openBuilder(level, b)
    if (builder === undefined) {
      builder = new CandleBuilder(b, b + level.period - 1)
      builder.isFinal = true
      level.finals.set(b, builder)
    }
    this.amended.set(builder, level)
    return builder
  }

  /** A gap recent enough that its candles wait for the trades that fill it. */
  private repairable(g: GapRange): boolean {
    return g.fromTs >= this.watermark - this.options.repairHorizonMs
  }

  private inRepairableGap(ts: number): boolean {
    for (const g of this.gaps.values()) if (g.fromTs <= ts && ts <= g.toTs && this.repairable(g)) return true
    return false
  }

  /** The oldest time whose candles are kept: the amend horizon, or the start of an older gap still being repaired. */
  private keptFrom(): number {
    let from = this.watermark - this.options.amendHorizonMs
    for (const g of this.gaps.values()) if (g.fromTs < from && this.repairable(g)) from = g.fromTs
    return from
  }

  private overlapsGap(fromTs: number, toTs: number): boolean {
    for (const g of this.gaps.values()) if (g.fromTs <= toTs && g.toTs >= fromTs) return true
    return false
  }

  private isComplete(builder: CandleBuilder): boolean {
    return !this.overlapsGap(builder.openTime, builder.closeTime)
  }

  /**
   * Re-emits the final candles within `range` whose completeness changed. Opening a gap over final minutes that
   * were never built (empty ones in skip mode) builds them, so the incompleteness shows; open candles need
   * nothing, since completeness is read when a candle is emitted.
   */
  private recheck(range: GapRange, build: boolean): void {
    const last = Math.min(range.toTs, this.lastFinal + MINUTE - 1)
    if (last < range.fromTs) return
    const horizon = Math.min(this.keptFrom(), this.repairable(range) ? range.fromTs : Number.POSITIVE_INFINITY) - MINUTE
    const first = Math.max(
      bucketStart(range.fromTs, MINUTE),
      bucketStart(last, MINUTE) - MAX_FLAT_FILL,
      bucketStart(horizon, MINUTE),
    )
    for (let b = first; b <= last; b += MINUTE) {
      let builder = this.minute.finals.get(b)
      if (builder === undefined) {
        if (!build) continue
        builder = new CandleBuilder(b, b + MINUTE - 1)
        builder.isFinal = true
        builder.flatPrice = this.lastPrice
        this.minute.finals.set(b, builder)
      }
      this.changed(builder, this.minute)
    }
    for (const level of this.higher)
      for (let hb = bucketStart(first, level.period); hb <= last; hb += level.period) {
        const builder = level.finals.get(hb)
        if (builder !== undefined) this.changed(builder, level)
      }
  }

  private changed(builder: CandleBuilder, level: Level): void {
    if (builder.complete !== this.isComplete(builder) || !this.emitted.has(builder)) this.amended.set(builder, level)
  }

  /** Finals are kept in the order they closed (late-built ones aside, which merely linger), so this stops early. */
  private evict(cutoff: number): void {
    this.evictLevel(this.minute, cutoff)
    for (const level of this.higher) this.evictLevel(level, cutoff)
    this.seen.evictBefore(cutoff)
    // A gap that ended before the horizon can no longer change any candle kept here.
    for (const [key, g] of this.gaps) if (g.toTs < cutoff - MAX_FLAT_FILL) this.gaps.delete(key)
  }

  private evictLevel(level: Level, cutoff: number): void {
    for (const builder of level.finals.values()) {
      if (builder.closeTime >= cutoff) return
      level.finals.delete(builder.openTime)
    }
  }
}
