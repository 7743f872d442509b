import {
  AdxCalculator,
  AtrCalculator,
  BollingerCalculator,
  type Calculator,
  EmaCalculator,
  MacdCalculator,
  RsiCalculator,
  SmaCalculator,
} from "./Calculators.js"

/** The data-architecture seed's list (section 3.2). */
export const DEFAULT_INDICATORS: ReadonlyArray<string> = [
  "sma_20",
  "sma_50",
  "sma_200",
  "ema_12",
  "ema_26",
  "rsi_14",
  "macd_line",
  "macd_signal",
  "macd_hist",
  "atr_14",
  "bb_upper",
  "bb_middle",
  "bb_lower",
  "adx_14",
]

const PERIODIC: Record<string, (period: number) => Calculator> = {
  sma: SmaCalculator.of,
  ema: EmaCalculator.of,
  rsi: RsiCalculator.of,
  atr: AtrCalculator.of,
  adx: AdxCalculator.of,
}

/** Names without a period in them: MACD is 12/26/9 and the bands are 20 periods at 2σ, as the seed's table has them. */
const FIXED: Record<string, { readonly group: string; readonly make: () => Calculator }> = {
  macd_line: { group: "macd", make: () => MacdCalculator.of() },
  macd_signal: { group: "macd", make: () => MacdCalculator.of() },
  macd_hist: { group: "macd", make: () => MacdCalculator.of() },
  bb_upper: { group: "bb", make: () => BollingerCalculator.of() },
  bb_middle: { group: "bb", make: () => BollingerCalculator.of() },
  bb_lower: { group: "bb", make: () => BollingerCalculator.of() },
}

const MAX_PERIOD = 10_000

/** Candles an indicator needs before its first value, beyond which a warm-up only makes seeds converge. */
const lookback = (name: string): number => {
  const m = /^([a-z]+)_(\d+)$/.exec(name)
  if (m !== null && m[1]! in PERIODIC) {
    const period = Number(m[2])
    return m[1] === "adx" ? 2 * period - 1 : m[1] === "sma" || m[1] === "ema" ? period - 1 : period
  }
  return FIXED[name]?.group === "macd" ? 33 : 19
}

/** Why a configured indicator name cannot be computed, or undefined when it can. */
export const unknownIndicator = (name: string): string | undefined => {
  if (name in FIXED) return undefined
  const m = /^([a-z]+)_(\d+)$/.exec(name)
  if (m === null || !(m[1]! in PERIODIC))
    return `unknown indicator ${name} (known: sma_N, ema_N, rsi_N, atr_N, adx_N, ${Object.keys(FIXED).join(", ")})`
  const period = Number(m[2])
  if (period < 2 || period > MAX_PERIOD) return `${name}: the period must be between 2 and ${MAX_PERIOD}`
  return undefined
}

/** A validated choice of indicators: which calculators to run, and which of their outputs to keep. */
export class IndicatorSet {
  private constructor(
    readonly names: ReadonlyArray<string>,
    private readonly factories: ReadonlyArray<() => Calculator>,
    /** The most candles any chosen indicator needs before its first value. */
    readonly lookback: number,
  ) {}

  static of(names: ReadonlyArray<string>): IndicatorSet {
    const bad = names.map(unknownIndicator).filter((e) => e !== undefined)
    if (bad.length > 0) throw new Error(bad.join("; "))
    const unique = [...new Set(names)]
    const factories = new Map<string, () => Calculator>()
    for (const name of unique) {
      const fixed = FIXED[name]
      if (fixed !== undefined) factories.set(fixed.group, fixed.make)
      else {
        const [kind, period] = name.split("_") as [string, string]
        factories.set(name, () => PERIODIC[kind]!(Number(period)))
      }
    }
    return new IndicatorSet(unique, [...factories.values()], Math.max(0, ...unique.map(lookback)))
  }

  calculators(): Array<Calculator> {
    return this.factories.map((make) => make())
  }

  /**
   * Candles to warm a series with so that its values equal an uninterrupted run's to far below 1e-9: the longest
   * lookback, then enough for EMA seeds and Wilder smoothing to decay ((1 − 2/(n+1))^k and (1 − 1/n)^k under 1e-16).
   */
  warmUpCandles(): number {
    const decay = Math.max(
      0,
      ...this.names.map((name) => {
        const m = /^(ema|rsi|atr|adx)_(\d+)$/.exec(name)
        const period = m !== null ? Number(m[2]) : FIXED[name]?.group === "macd" ? 26 : 0
        return period === 0 ? 0 : Math.ceil(37 * period)
      }),
    )
    return this.lookback + 1 + decay
  }
}
