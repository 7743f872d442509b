import type { Candle, Timeframe } from "../schema/Candle.js"
import type { ExchangeId } from "../schema/Market.js"
import * as Decimal from "./Decimal.js"

/**
 * Orders trade ids as the exchange does: numeric ids (no leading zeros) by value, anything else (UUIDs) by text,
 * which is arbitrary but stable.
 */
export const tradeIdBefore = (a: string, b: string): boolean =>
  a.length !== b.length && isDigits(a) && isDigits(b) ? a.length < b.length : a < b

const isDigits = (s: string): boolean => {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 48 || c > 57) return false
  }
  return s.length > 0
}

const earlier = (ts: number, id: string, thanTs: number, thanId: string): boolean =>
  ts < thanTs || (ts === thanTs && tradeIdBefore(id, thanId))

/** What a stored candle keeps that a builder can be restored from. */
export type StoredValues = Pick<
  Candle,
  | "openTime"
  | "closeTime"
  | "open"
  | "high"
  | "low"
  | "close"
  | "volume"
  | "quoteVolume"
  | "trades"
  | "takerBuyBase"
  | "takerBuyQuote"
  | "isFinal"
  | "complete"
>

/** The parts of a trade a candle needs, with price and quantity already parsed. */
export interface CandleTrade {
  readonly tradeId: string
  /** Numeric id where the venue has one, −1 elsewhere. */
  readonly seq: number
  readonly exchangeTs: number
  readonly priceText: string
  readonly price: number
  readonly priceUnits: Decimal.Units
  readonly priceScale: number
  readonly qtyUnits: Decimal.Units
  readonly qtyScale: number
  readonly takerBuy: boolean
  readonly count: number
}

/**
 * One candle being built: a pure accumulator (nautilus_trader's BarBuilder) that knows nothing of time or I/O.
 * Adding a trade and merging another builder are the same monoid operation, which is why a higher timeframe
 * rolled up from its 1m candles equals one built from the trades directly, late trades included.
 */
export class CandleBuilder {
  open = ""
  openTs = 0
  openId = ""
  close = ""
  closeTs = 0
  closeId = ""
  high = ""
  highNum = Number.NEGATIVE_INFINITY
  low = ""
  lowNum = Number.POSITIVE_INFINITY
  readonly volume = new Decimal.DecimalSum()
  readonly quoteVolume = new Decimal.DecimalSum()
  readonly takerBuyBase = new Decimal.DecimalSum()
  readonly takerBuyQuote = new Decimal.DecimalSum()
  trades = 0
  /** Trade records added; differs from `trades` when one record (an aggTrade) stands for several raw trades. */
  records = 0
  complete = true
  isFinal = false
  revision = 0
  /** Close of the previous candle, shown as open/high/low/close while this one has no trade. */
  flatPrice: string | undefined

  constructor(
    readonly openTime: number,
    readonly closeTime: number,
  ) {}

  /**
   * A stored candle as a builder to merge from, e.g. the minutes a restarted process rolls into its open higher
   * timeframes. Its first and last trade take the candle's own bounds: every trade merged after it is later.
   * Undefined for a row that cannot be one (a price or volume that is no decimal, a trade count that is no count):
   * the caller skips it rather than build on it.
   */
  static fromCandle(c: StoredValues): CandleBuilder | undefined {
    const prices = [c.open, c.high, c.low, c.close]
    if (!(Number.isSafeInteger(c.trades) && c.trades >= 0) || !prices.every((p) => Decimal.scan(p, restored)))
      return undefined
    const b = new CandleBuilder(c.openTime, c.closeTime)
    b.isFinal = c.isFinal
    b.complete = c.complete
    if (c.trades === 0) {
      b.flatPrice = c.close
      return b
    }
    const sums = [
      [b.volume, c.volume],
      [b.quoteVolume, c.quoteVolume],
      [b.takerBuyBase, c.takerBuyBase],
      [b.takerBuyQuote, c.takerBuyQuote],
    ] as const
    for (const [into, text] of sums) {
      if (!Decimal.scan(text, restored)) return undefined
      into.add(restored.units, restored.scale)
    }
    b.trades = c.trades
    b.records = 1
    b.open = c.open
    b.close = c.close
    b.high = c.high
    b.low = c.low
    b.highNum = Number(c.high)
    b.lowNum = Number(c.low)
    b.openTs = c.openTime
    b.closeTs = c.closeTime
    return b
  }

  get isEmpty(): boolean {
    return this.records === 0
  }

  addTrade(t: CandleTrade): void {
    const quoteUnits = Decimal.multiplyUnits(t.priceUnits, t.qtyUnits)
    const quoteScale = t.priceScale + t.qtyScale
    this.volume.add(t.qtyUnits, t.qtyScale)
    this.quoteVolume.add(quoteUnits, quoteScale)
    if (t.takerBuy) {
      this.takerBuyBase.add(t.qtyUnits, t.qtyScale)
      this.takerBuyQuote.add(quoteUnits, quoteScale)
    }
    this.trades += t.count
    this.records++
    if (this.records === 1) {
      this.open = this.close = this.high = this.low = t.priceText
      this.highNum = this.lowNum = t.price
      this.openTs = this.closeTs = t.exchangeTs
      this.openId = this.closeId = t.tradeId
      return
    }
    if (t.price > this.highNum) {
      this.high = t.priceText
      this.highNum = t.price
    }
    if (t.price < this.lowNum) {
      this.low = t.priceText
      this.lowNum = t.price
    }
    if (!earlier(t.exchangeTs, t.tradeId, this.closeTs, this.closeId)) {
      this.close = t.priceText
      this.closeTs = t.exchangeTs
      this.closeId = t.tradeId
    } else if (earlier(t.exchangeTs, t.tradeId, this.openTs, this.openId)) {
      this.open = t.priceText
      this.openTs = t.exchangeTs
      this.openId = t.tradeId
    }
  }

  /** Folds a candle of a sub-period into this one; an empty candle contributes nothing but its flat price. */
  merge(other: CandleBuilder): void {
    if (other.isEmpty) {
      if (this.isEmpty) this.flatPrice ??= other.flatPrice
      return
    }
    this.volume.addSum(other.volume)
    this.quoteVolume.addSum(other.quoteVolume)
    this.takerBuyBase.addSum(other.takerBuyBase)
    this.takerBuyQuote.addSum(other.takerBuyQuote)
    this.trades += other.trades
    const wasEmpty = this.isEmpty
    this.records += other.records
    if (wasEmpty || other.highNum > this.highNum) {
      this.high = other.high
      this.highNum = other.highNum
    }
    if (wasEmpty || other.lowNum < this.lowNum) {
      this.low = other.low
      this.lowNum = other.lowNum
    }
    if (wasEmpty || earlier(other.openTs, other.openId, this.openTs, this.openId)) {
      this.open = other.open
      this.openTs = other.openTs
      this.openId = other.openId
    }
    if (wasEmpty || !earlier(other.closeTs, other.closeId, this.closeTs, this.closeId)) {
      this.close = other.close
      this.closeTs = other.closeTs
      this.closeId = other.closeId
    }
  }

  /** The price this candle hands on to a following empty candle. */
  get lastPrice(): string | undefined {
    return this.isEmpty ? this.flatPrice : this.close
  }

  build(exchange: ExchangeId, symbol: string, timeframe: Timeframe): Candle {
    const flat = this.flatPrice ?? ""
    return {
      exchange,
      symbol,
      timeframe,
      openTime: this.openTime,
      closeTime: this.closeTime,
      open: this.isEmpty ? flat : this.open,
      high: this.isEmpty ? flat : this.high,
      low: this.isEmpty ? flat : this.low,
      close: this.isEmpty ? flat : this.close,
      volume: this.volume.format(),
      quoteVolume: this.quoteVolume.format(),
      trades: this.trades,
      takerBuyBase: this.takerBuyBase.format(),
      takerBuyQuote: this.takerBuyQuote.format(),
      vwap: this.isEmpty ? null : (Decimal.divideToText(this.quoteVolume.value, this.volume.value, VWAP_SCALE) ?? null),
      isFinal: this.isFinal,
      revision: this.revision,
      complete: this.complete,
      lastTradeId: this.isEmpty ? "" : this.closeId,
    }
  }
}

const restored: Decimal.Scanned = { units: 0, scale: 0 }

/** vwap is the one derived field that is not exact; 18 fractional digits is below any exchange's tick size. */
const VWAP_SCALE = 18
