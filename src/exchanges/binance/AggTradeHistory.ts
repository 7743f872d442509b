import type { History } from "../ReplayProtocol.js"

type AggRecord = Record<string, unknown>

/** Digits a decimal's units may have to be held exactly in a double. */
const MAX_DIGITS = 15
/** The scale of a decimal written without a point. */
const INTEGER = 255

/**
 * A plain decimal's text as units and scale (`"0.00100000"` is 100000 at scale 8), written at `i` of the columns; false
 * for any other text (sign, exponent, leading zeros, too many digits), which is kept as it is.
 */
const parseDecimal = (text: unknown, units: Float64Array, scales: Uint8Array, i: number): boolean => {
  if (typeof text !== "string" || text.length === 0 || text.length > MAX_DIGITS + 1) return false
  let n = 0
  let scale = -1
  for (let k = 0; k < text.length; k++) {
    const c = text.charCodeAt(k)
    if (c === 46) {
      if (scale >= 0 || k === 0 || k === text.length - 1) return false
      scale = 0
      continue
    }
    if (c < 48 || c > 57) return false
    // "07" would come back as "7".
    if (c === 48 && k === 0 && text.length > 1 && text.charCodeAt(1) !== 46) return false
    n = n * 10 + (c - 48)
    if (scale >= 0) scale++
  }
  if (text.length - (scale >= 0 ? 1 : 0) > MAX_DIGITS) return false
  units[i] = n
  scales[i] = scale < 0 ? INTEGER : scale
  return true
}

const formatDecimal = (units: number, scale: number): string => {
  const digits = String(units)
  if (scale === INTEGER) return digits
  const padded = digits.length > scale ? digits : "0".repeat(scale + 1 - digits.length) + digits
  return `${padded.slice(0, padded.length - scale)}.${padded.slice(padded.length - scale)}`
}

const isId = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v)

/** Records per chunk: the columns grow by chunks, never copied. */
const CHUNK = 4_096

class Chunk {
  readonly ids = new Float64Array(CHUNK)
  readonly firsts = new Float64Array(CHUNK)
  readonly lasts = new Float64Array(CHUNK)
  readonly times = new Float64Array(CHUNK)
  readonly prices = new Float64Array(CHUNK)
  readonly priceScales = new Uint8Array(CHUNK)
  readonly qtys = new Float64Array(CHUNK)
  readonly qtyScales = new Uint8Array(CHUNK)
  readonly flags = new Uint8Array(CHUNK)
}

/**
 * A Binance trade history (`{a,p,q,f,l,T,m,M}` records in play order) kept in columns of numbers, not as an object
 * and two strings per trade: a load test plays millions of trades, and as objects they were all traced by every
 * collection of the replay exchange, which shares the machine with the daemon it measures (0.15 of a core at
 * 80,000 trades/s). A record whose fields are of other types is kept as it came. It holds the aggregate shape's
 * eight fields: the encoders and `ReplayRest.record` write no others.
 */
export class AggTradeHistory implements History {
  length = 0
  private readonly chunks: Array<Chunk> = []
  /** Records that do not fit the columns, by index. */
  private readonly others = new Map<number, AggRecord>()

  push(record: AggRecord): void {
    const i = this.length++
    const k = i % CHUNK
    if (k === 0) this.chunks.push(new Chunk())
    const c = this.chunks[this.chunks.length - 1]!
    const { a, p, q, f, l, T, m, M } = record
    const fits =
      isId(a) &&
      isId(f) &&
      isId(l) &&
      isId(T) &&
      typeof m === "boolean" &&
      typeof M === "boolean" &&
      parseDecimal(p, c.prices, c.priceScales, k) &&
      parseDecimal(q, c.qtys, c.qtyScales, k)
    if (!fits) {
      this.others.set(i, record)
      return
    }
    c.ids[k] = a
    c.firsts[k] = f
    c.lasts[k] = l
    c.times[k] = T
    c.flags[k] = (m ? 1 : 0) | (M ? 2 : 0)
  }

  at(index: number): AggRecord | undefined {
    const i = index < 0 ? this.length + index : index
    if (i < 0 || i >= this.length) return undefined
    const other = this.others.get(i)
    if (other !== undefined) return other
    const c = this.chunks[Math.floor(i / CHUNK)]!
    const k = i % CHUNK
    return {
      a: c.ids[k],
      p: formatDecimal(c.prices[k]!, c.priceScales[k]!),
      q: formatDecimal(c.qtys[k]!, c.qtyScales[k]!),
      f: c.firsts[k],
      l: c.lasts[k],
      T: c.times[k],
      m: (c.flags[k]! & 1) !== 0,
      M: (c.flags[k]! & 2) !== 0,
    }
  }

  slice(start = 0, end = this.length): Array<AggRecord> {
    const from = Math.max(0, start < 0 ? this.length + start : Math.min(start, this.length))
    const to = Math.max(0, end < 0 ? this.length + end : Math.min(end, this.length))
    const out: Array<AggRecord> = []
    for (let i = from; i < to; i++) out.push(this.at(i)!)
    return out
  }
}
