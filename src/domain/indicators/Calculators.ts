/**
 * Incremental indicators that reproduce TA-Lib's functions (classic compatibility, no unstable period) operation for
 * operation: the same seeds, the same smoothing and the same order of floating-point steps. Fed the candles of a
 * series from its first one, the recursive ones (EMA, RSI, ATR, ADX, MACD) emit exactly the numbers TA-Lib computes
 * over the whole array, from the same index; the windowed ones (SMA, bands) exactly TA-Lib's for each window.
 */

/** The part of a final candle the indicators read. */
export interface Bar {
  readonly high: number
  readonly low: number
  readonly close: number
}

/** Outputs by indicator name; a calculator writes its names only once they have enough history. */
export type Outputs = Record<string, number>

export interface Calculator {
  push(bar: Bar, out: Outputs): void
  /** An independent copy of the state, for replaying a revised candle from an earlier point. */
  clone(): Calculator
}

/** TA-Lib's `TA_IS_ZERO` and `TA_IS_ZERO_OR_NEG` (ta_utility.h). */
const EPSILON = 1e-14
const isZero = (v: number) => -EPSILON < v && v < EPSILON

/** TA-Lib's `PER_TO_K`. */
const kOf = (period: number) => 2 / (period + 1)

/** The last `size` values pushed, oldest first. */
class Window {
  constructor(
    readonly size: number,
    private readonly values = new Float64Array(size),
    private next = 0,
    private count = 0,
  ) {}

  push(x: number): void {
    this.values[this.next] = x
    this.next = this.next + 1 === this.size ? 0 : this.next + 1
    this.count++
  }

  get full(): boolean {
    return this.count >= this.size
  }

  /**
   * The window's mean and population variance, E[x²] − mean², summed oldest first as TA_INT_SMA and
   * TA_INT_stddev_using_precalc_ma do. Summed afresh for every candle rather than kept as running sums: TA-Lib's
   * running sums carry rounding from every candle since the first, so its value for a window depends on how long
   * the series ran (after flat stretches at 30,000 its bands differed by 5e-8 from a restarted run's). Summed
   * afresh, a value depends on its window alone, equals TA-Lib's for that window, and is the same after a restart.
   */
  moments(): { mean: number; variance: number } {
    let sum = 0
    let sumOfSquares = 0
    for (let i = 0, j = this.next; i < this.size; i++, j = j + 1 === this.size ? 0 : j + 1) {
      const x = this.values[j]!
      sum += x
      sumOfSquares += x * x
    }
    const mean = sum / this.size
    return { mean, variance: sumOfSquares / this.size - mean * mean }
  }

  clone(): Window {
    return new Window(this.size, this.values.slice(), this.next, this.count)
  }
}

/** TA_INT_EMA: seeded with the mean of its first `period` inputs, then `((x − ema) · k) + ema`. */
class Ema {
  constructor(
    readonly period: number,
    private readonly k = kOf(period),
    private count = 0,
    private value = 0,
  ) {}

  push(x: number): number | undefined {
    this.count++
    if (this.count < this.period) {
      this.value += x
      return undefined
    }
    this.value = this.count === this.period ? (this.value + x) / this.period : (x - this.value) * this.k + this.value
    return this.value
  }

  clone(): Ema {
    return new Ema(this.period, this.k, this.count, this.value)
  }
}

/** TA_TRANGE and ADX's TRUE_RANGE macro. */
const trueRange = (high: number, low: number, previousClose: number): number => {
  let range = high - low
  const fromHigh = Math.abs(high - previousClose)
  if (fromHigh > range) range = fromHigh
  const fromLow = Math.abs(low - previousClose)
  if (fromLow > range) range = fromLow
  return range
}

export class SmaCalculator implements Calculator {
  constructor(
    private readonly name: string,
    private readonly window: Window,
  ) {}

  static of(period: number): SmaCalculator {
    return new SmaCalculator(`sma_${period}`, new Window(period))
  }

  push(bar: Bar, out: Outputs): void {
    this.window.push(bar.close)
    if (this.window.full) out[this.name] = this.window.moments().mean
  }

  clone(): SmaCalculator {
    return new SmaCalculator(this.name, this.window.clone())
  }
}

export class EmaCalculator implements Calculator {
  constructor(
    private readonly name: string,
    private readonly ema: Ema,
  ) {}

  static of(period: number): EmaCalculator {
    return new EmaCalculator(`ema_${period}`, new Ema(period))
  }

  push(bar: Bar, out: Outputs): void {
    const v = this.ema.push(bar.close)
    if (v !== undefined) out[this.name] = v
  }

  clone(): EmaCalculator {
    return new EmaCalculator(this.name, this.ema.clone())
  }
}

/** TA_RSI: Wilder's average gain and loss, seeded with the plain mean of the first `period` changes. */
export class RsiCalculator implements Calculator {
  private constructor(
    private readonly period: number,
    private count = 0,
    private previous = 0,
    private gain = 0,
    private loss = 0,
  ) {}

  static of(period: number): RsiCalculator {
    return new RsiCalculator(period)
  }

  push(bar: Bar, out: Outputs): void {
    const n = this.period
    this.count++
    const change = bar.close - this.previous
    this.previous = bar.close
    if (this.count === 1) return
    const seeding = this.count <= n + 1
    if (!seeding) {
      this.loss *= n - 1
      this.gain *= n - 1
    }
    if (change < 0) this.loss -= change
    else this.gain += change
    if (seeding && this.count < n + 1) return
    this.loss /= n
    this.gain /= n
    const total = this.gain + this.loss
    out[`rsi_${n}`] = isZero(total) ? 0 : 100 * (this.gain / total)
  }

  clone(): RsiCalculator {
    return new RsiCalculator(this.period, this.count, this.previous, this.gain, this.loss)
  }
}

/** TA_ATR: Wilder's smoothing of the true range, seeded with the mean of the first `period` ranges. */
export class AtrCalculator implements Calculator {
  private constructor(
    private readonly period: number,
    private count = 0,
    private previousClose = 0,
    private value = 0,
  ) {}

  static of(period: number): AtrCalculator {
    return new AtrCalculator(period)
  }

  push(bar: Bar, out: Outputs): void {
    const n = this.period
    this.count++
    const range = trueRange(bar.high, bar.low, this.previousClose)
    this.previousClose = bar.close
    if (this.count === 1) return
    if (this.count <= n + 1) {
      this.value += range
      if (this.count < n + 1) return
      this.value /= n
    } else {
      this.value *= n - 1
      this.value += range
      this.value /= n
    }
    out[`atr_${n}`] = this.value
  }

  clone(): AtrCalculator {
    return new AtrCalculator(this.period, this.count, this.previousClose, this.value)
  }
}

/** TA_ADX: Wilder's sums of +DM, −DM and the true range, the mean of the first `period` DX values, then smoothed. */
export class AdxCalculator implements Calculator {
  private constructor(
    private readonly period: number,
    private count = 0,
    private previousHigh = 0,
    private previousLow = 0,
    private previousClose = 0,
    private plusDm = 0,
    private minusDm = 0,
    private range = 0,
    private value = 0,
  ) {}

  static of(period: number): AdxCalculator {
    return new AdxCalculator(period)
  }

  push(bar: Bar, out: Outputs): void {
    const n = this.period
    this.count++
    if (this.count === 1) {
      this.previousHigh = bar.high
      this.previousLow = bar.low
      this.previousClose = bar.close
      return
    }
    const diffP = bar.high - this.previousHigh
    this.previousHigh = bar.high
    const diffM = this.previousLow - bar.low
    this.previousLow = bar.low
    const accumulating = this.count <= n
    if (!accumulating) {
      this.minusDm -= this.minusDm / n
      this.plusDm -= this.plusDm / n
    }
    if (diffM > 0 && diffP < diffM) this.minusDm += diffM
    else if (diffP > 0 && diffP > diffM) this.plusDm += diffP
    const range = trueRange(bar.high, bar.low, this.previousClose)
    this.range = accumulating ? this.range + range : this.range - this.range / n + range
    this.previousClose = bar.close
    if (accumulating) return
    const dx = this.dx()
    if (this.count <= 2 * n) {
      // The first `period` DX values are summed (a zero range counts as nothing) and averaged at the last of them.
      if (dx !== undefined) this.value += dx
      if (this.count < 2 * n) return
      this.value /= n
    } else if (dx !== undefined) {
      this.value = (this.value * (n - 1) + dx) / n
    }
    out[`adx_${n}`] = this.value
  }

  private dx(): number | undefined {
    if (isZero(this.range)) return undefined
    const minusDi = 100 * (this.minusDm / this.range)
    const plusDi = 100 * (this.plusDm / this.range)
    const sum = minusDi + plusDi
    return isZero(sum) ? undefined : 100 * (Math.abs(minusDi - plusDi) / sum)
  }

  clone(): AdxCalculator {
    return new AdxCalculator(
      this.period,
      this.count,
      this.previousHigh,
      this.previousLow,
      this.previousClose,
      this.plusDm,
      this.minusDm,
      this.range,
      this.value,
    )
  }
}

/**
 * TA_MACD(12, 26, 9): the fast EMA is seeded where TA-Lib seeds it, on the `fast` closes that end with the slow
 * EMA's first value (not on the series' first closes), and all three outputs start with the signal's first value.
 */
export class MacdCalculator implements Calculator {
  private constructor(
    private readonly fastPeriod: number,
    private readonly slow: Ema,
    private readonly fast: Ema,
    private readonly signal: Ema,
    private count = 0,
  ) {}

  static of(fast = 12, slow = 26, signal = 9): MacdCalculator {
    return new MacdCalculator(fast, new Ema(slow), new Ema(fast), new Ema(signal))
  }

  push(bar: Bar, out: Outputs): void {
    this.count++
    const slow = this.slow.push(bar.close)
    const fast = this.count > this.slow.period - this.fastPeriod ? this.fast.push(bar.close) : undefined
    if (slow === undefined || fast === undefined) return
    const line = fast - slow
    const signal = this.signal.push(line)
    if (signal === undefined) return
    out.macd_line = line
    out.macd_signal = signal
    out.macd_hist = line - signal
  }

  clone(): MacdCalculator {
    return new MacdCalculator(this.fastPeriod, this.slow.clone(), this.fast.clone(), this.signal.clone(), this.count)
  }
}

/** TA_BBANDS(20, 2, 2, SMA): the SMA, ± 2 population standard deviations from the same running sums. */
export class BollingerCalculator implements Calculator {
  private constructor(
    private readonly deviations: number,
    private readonly window: Window,
  ) {}

  static of(period = 20, deviations = 2): BollingerCalculator {
    return new BollingerCalculator(deviations, new Window(period))
  }

  push(bar: Bar, out: Outputs): void {
    this.window.push(bar.close)
    if (!this.window.full) return
    const m = this.window.moments()
    const deviation = m.variance < EPSILON ? 0 : Math.sqrt(m.variance)
    const width = this.deviations === 1 ? deviation : deviation * this.deviations
    out.bb_upper = m.mean + width
    out.bb_middle = m.mean
    out.bb_lower = m.mean - width
  }

  clone(): BollingerCalculator {
    return new BollingerCalculator(this.deviations, this.window.clone())
  }
}
