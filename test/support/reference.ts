/**
 * An independent, deliberately naive candle computation for the tests: fixed-scale bigint arithmetic, trades
 * sorted by (time, id), no code shared with src/. Values come back as normalised decimal strings.
 */
const SCALE = 20n

export const toFixed = (text: string): bigint => {
  const [int, frac = ""] = text.split(".")
  const negative = int!.startsWith("-")
  const digits = BigInt(`${int!.replace("-", "")}${frac.padEnd(Number(SCALE), "0")}`)
  return negative ? -digits : digits
}

export const fromFixed = (v: bigint, scale: bigint = SCALE): string => {
  const s = v.toString().padStart(Number(scale) + 1, "0")
  const int = s.slice(0, s.length - Number(scale))
  const frac = s.slice(s.length - Number(scale)).replace(/0+$/, "")
  return frac.length > 0 ? `${int}.${frac}` : int
}

/** Normalises any decimal string for comparison: `"1.50000"` → `"1.5"`. */
export const norm = (text: string): string => fromFixed(toFixed(text))

export interface RefTrade {
  readonly id: number
  readonly ts: number
  readonly price: string
  readonly qty: string
  readonly takerBuy: boolean
  readonly count: number
}

export interface RefCandle {
  readonly openTime: number
  /** quoteVolume / volume, rounded half-up to 18 fractional digits. */
  readonly vwap: string | null
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

export const referenceCandles = (trades: ReadonlyArray<RefTrade>, periodMs: number): Map<number, RefCandle> => {
  const buckets = new Map<number, Array<RefTrade>>()
  for (const t of trades) {
    const b = t.ts - (t.ts % periodMs)
    const list = buckets.get(b) ?? []
    list.push(t)
    buckets.set(b, list)
  }
  const out = new Map<number, RefCandle>()
  for (const [b, list] of buckets) {
    const sorted = [...list].sort((x, y) => x.ts - y.ts || x.id - y.id)
    const prices = sorted.map((t) => toFixed(t.price))
    let volume = 0n
    let quote = 0n
    let takerBase = 0n
    let takerQuote = 0n
    for (const t of sorted) {
      const q = toFixed(t.qty)
      const pq = toFixed(t.price) * q
      volume += q
      quote += pq
      if (t.takerBuy) {
        takerBase += q
        takerQuote += pq
      }
    }
    // quote has scale 2·SCALE and volume SCALE: dividing quote·10^18 by volume·10^SCALE leaves units of 10^-18.
    const den = volume * 10n ** SCALE
    const vwapUnits = volume === 0n ? undefined : (quote * 10n ** 18n * 2n + den) / (2n * den)
    out.set(b, {
      openTime: b,
      vwap: vwapUnits === undefined ? null : fromFixed(vwapUnits, 18n),
      open: fromFixed(prices[0]!),
      high: fromFixed(prices.reduce((a, x) => (x > a ? x : a))),
      low: fromFixed(prices.reduce((a, x) => (x < a ? x : a))),
      close: fromFixed(prices[prices.length - 1]!),
      volume: fromFixed(volume),
      quoteVolume: fromFixed(quote, SCALE * 2n),
      trades: sorted.reduce((n, t) => n + t.count, 0),
      takerBuyBase: fromFixed(takerBase),
      takerBuyQuote: fromFixed(takerQuote, SCALE * 2n),
    })
  }
  return out
}
