/**
 * Exact decimal arithmetic on scaled integers: a value is `units / 10^scale`.
 *
 * Exchanges send prices and quantities as decimal strings; summing them as floats drifts from the exchange's own
 * totals after a few hundred trades, so candle volumes are accumulated here instead.
 */
export interface Decimal {
  readonly units: bigint
  readonly scale: number
}

const POW10: Array<bigint> = [1n]
const pow10 = (n: number): bigint => {
  for (let i = POW10.length; i <= n; i++) POW10.push(POW10[i - 1]! * 10n)
  return POW10[n]!
}

/**
 * How far an exponent may move the point: a price or quantity never needs more, and without a bound a hostile
 * `"1e9999999"` would have this module build a number of ten million digits (and cache every power of ten below it).
 */
export const MAX_EXPONENT = 64

const PLAIN = /^-?\d+(\.\d+)?$/
const EXPONENT = /^(-?)(\d+)(?:\.(\d+))?[eE]([+-]?\d+)$/

/**
 * Parses a decimal string such as `"0.21448000"`, `"15"` or `"1e-7"`; `undefined` when it is not a finite decimal,
 * or its exponent is beyond ±MAX_EXPONENT.
 */
export const parse = (text: string): Decimal | undefined => {
  if (PLAIN.test(text)) {
    const dot = text.indexOf(".")
    if (dot < 0) return { units: BigInt(text), scale: 0 }
    return { units: BigInt(text.slice(0, dot) + text.slice(dot + 1)), scale: text.length - dot - 1 }
  }
  const m = EXPONENT.exec(text)
  if (m === null) return undefined
  const fraction = m[3] ?? ""
  const exponent = Number(m[4])
  if (Math.abs(exponent) > MAX_EXPONENT) return undefined
  const digits = BigInt(m[1]! + m[2]! + fraction)
  const scale = fraction.length - exponent
  return scale >= 0 ? { units: digits, scale } : { units: digits * pow10(-scale), scale: 0 }
}

/** Drops trailing fractional zeros, so equal values have one representation. */
export const normalize = (a: Decimal): Decimal => {
  let { units, scale } = a
  while (scale > 0 && units % 10n === 0n) {
    units /= 10n
    scale--
  }
  return { units, scale }
}

export const format = (a: Decimal): string => formatUnits(a.units, a.scale)

/** −1, 0 or 1 as `a` is below, equal to or above `b`. */
export const compare = (a: Decimal, b: Decimal): number => {
  const scale = Math.max(a.scale, b.scale)
  const x = a.units * pow10(scale - a.scale)
  const y = b.units * pow10(scale - b.scale)
  return x < y ? -1 : x > y ? 1 : 0
}

const formatUnits = (units: Units, scale: number): string => {
  const negative = units < 0
  const digits = (negative ? -units : units).toString()
  if (scale === 0) return negative ? `-${digits}` : digits
  const padded = digits.padStart(scale + 1, "0")
  const cut = padded.length - scale
  return `${negative ? "-" : ""}${padded.slice(0, cut)}.${padded.slice(cut)}`
}

/** Drops trailing fractional zeros (and a bare trailing dot) from formatted text. */
const trimZeros = (text: string): string => {
  if (!text.includes(".")) return text
  let end = text.length
  while (text.charCodeAt(end - 1) === 48) end--
  if (text.charCodeAt(end - 1) === 46) end--
  return text.slice(0, end)
}

/** `a / b` rounded half-up to `scale` fractional digits, as text without trailing zeros; `undefined` when `b` is 0. */
export const divideToText = (a: Decimal, b: Decimal, scale: number): string | undefined => {
  if (b.units === 0n) return undefined
  // a/b = (a.units / 10^a.scale) / (b.units / 10^b.scale); scale the numerator so the quotient has `scale` digits.
  const shift = scale + b.scale - a.scale
  let num = shift >= 0 ? a.units * pow10(shift) : a.units
  let den = shift >= 0 ? b.units : b.units * pow10(-shift)
  if (den < 0n) {
    num = -num
    den = -den
  }
  const q = num / den
  const r = num % den
  const rounded = 2n * (r < 0n ? -r : r) >= den ? q + (num < 0n ? -1n : 1n) : q
  return trimZeros(formatUnits(rounded, scale))
}

/**
 * Units of a decimal: a JavaScript number while it is a safe integer (the common case, no allocation), a bigint
 * beyond that. Integer arithmetic on numbers is exact up to 2^53, and `Number.isSafeInteger` detects any result
 * that went past it, which is when the code below switches to bigint.
 */
export type Units = number | bigint

/** Where `scan` writes its result, so that the per-trade path allocates nothing. */
export interface Scanned {
  units: Units
  scale: number
}

const SCAN_LIMIT = Math.floor(Number.MAX_SAFE_INTEGER / 10) - 9

/**
 * Parses a decimal string into `into` with trailing fractional zeros dropped (`"0.21448000"` → 21448 × 10^-5);
 * false when the text is not a finite decimal.
 */
export const scan = (text: string, into: Scanned): boolean => {
  const dot = text.indexOf(".")
  let end = text.length
  if (dot >= 0) {
    while (end > dot + 1 && text.charCodeAt(end - 1) === 48) end--
    if (end === dot + 1) end = dot
  }
  const negative = text.charCodeAt(0) === 45
  let units = 0
  let digits = 0
  for (let i = negative ? 1 : 0; i < end; i++) {
    if (i === dot) continue
    const d = text.charCodeAt(i) - 48
    if (d < 0 || d > 9 || units > SCAN_LIMIT) return scanSlow(text, into)
    units = units * 10 + d
    digits++
  }
  if (digits === 0) return false
  into.units = negative ? -units : units
  into.scale = dot >= 0 && dot < end ? end - dot - 1 : 0
  return true
}

const scanSlow = (text: string, into: Scanned): boolean => {
  const d = parse(text)
  if (d === undefined) return false
  const { units, scale } = normalize(d)
  into.units =
    units >= BigInt(Number.MIN_SAFE_INTEGER) && units <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(units) : units
  into.scale = scale
  return true
}

/** A scanned decimal's units as a number, NaN where they are a bigint (past 2^53): JSON-safe, for a cache. */
export const unitsOrNaN = (d: Scanned): number => (typeof d.units === "number" ? d.units : Number.NaN)

/** Reads `text` into `into`, from `units`/`scale` already read from it where those are known. */
export const scanCached = (
  text: string,
  units: number | undefined,
  scale: number | undefined,
  into: Scanned,
): boolean => {
  if (units !== undefined && scale !== undefined && units === units) {
    into.units = units
    into.scale = scale
    return true
  }
  return scan(text, into)
}

/**
 * The nearest double to a scanned decimal: an integer below 2^53 divided by an exact power of ten is correctly
 * rounded, so this equals `Number(text)` at a fraction of its cost.
 */
export const toNumber = (d: Scanned): number =>
  typeof d.units === "number" && d.scale <= 22 ? d.units / EXACT_POW10[d.scale]! : Number(formatUnits(d.units, d.scale))

const scratch: Scanned = { units: 0, scale: 0 }

/**
 * `Number(text)`, read through `scan` where the text is a decimal: the same double at a fraction of the cost. A zero
 * is left to `Number`, which keeps the sign of `"-0e0"` that the exact units lose.
 */
export const numberOf = (text: string): number => {
  const n = scan(text, scratch) ? toNumber(scratch) : 0
  return n === 0 ? Number(text) : n
}

/** Powers of ten that doubles hold exactly. */
const EXACT_POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i)

export const isNegative = (u: Units): boolean => u < 0
export const isPositive = (u: Units): boolean => u > 0

/** Exact product of two units. */
export const multiplyUnits = (a: Units, b: Units): Units => {
  if (typeof a === "number" && typeof b === "number") {
    const m = a * b
    if (Number.isSafeInteger(m)) return m
  }
  return BigInt(a) * BigInt(b)
}

/** A running exact sum: a safe-integer part that takes the usual additions and a bigint part for the overflow. */
export class DecimalSum {
  private small = 0
  private big = 0n
  private scale = 0

  add(units: Units, scale: number): void {
    if (scale > this.scale) this.rescale(scale)
    let u = units
    if (scale < this.scale) {
      const factor = this.scale - scale
      if (typeof u === "number") {
        const scaled = u * EXACT_POW10[factor]!
        u = factor <= 22 && Number.isSafeInteger(scaled) ? scaled : BigInt(u) * pow10(factor)
      } else u *= pow10(factor)
    }
    if (typeof u === "bigint") {
      this.big += u
      return
    }
    const sum = this.small + u
    if (Number.isSafeInteger(sum)) this.small = sum
    else {
      this.big += BigInt(this.small) + BigInt(u)
      this.small = 0
    }
  }

  addSum(other: DecimalSum): void {
    if (other.big !== 0n) this.add(other.big, other.scale)
    this.add(other.small, other.scale)
  }

  get value(): Decimal {
    return { units: this.big + BigInt(this.small), scale: this.scale }
  }

  /** The sum as decimal text; skips bigint work while the sum fits a safe integer. */
  format(): string {
    return this.big === 0n ? formatUnits(this.small, this.scale) : format(this.value)
  }

  private rescale(scale: number): void {
    const factor = scale - this.scale
    this.big *= pow10(factor)
    const scaled = this.small * EXACT_POW10[factor]!
    if (factor <= 22 && Number.isSafeInteger(scaled)) this.small = scaled
    else {
      this.big += BigInt(this.small) * pow10(factor)
      this.small = 0
    }
    this.scale = scale
  }
}
