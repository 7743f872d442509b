import type { Trade } from "../schema/Market.js"
import type { CandleTrade } from "./CandleBuilder.js"
import * as Decimal from "./Decimal.js"
import { EARLIEST_TRADE_TS } from "./Limits.js"

/** Why a decoded trade is refused; each is a metric label. */
export type TradeRejection =
  "bad_decimal" | "non_positive_price" | "negative_qty" | "future_timestamp" | "bad_timestamp"

/** Price moves beyond this fraction of the previous trade are flagged (and kept): real crashes happen. */
export const JUMP_THRESHOLD = 0.1

/** A CandleTrade the checker fills in place; the candle builder copies what it keeps, so one per pipeline suffices. */
export type CandleTradeSlot = { -readonly [K in keyof CandleTrade]: CandleTrade[K] }

export const makeSlot = (): CandleTradeSlot => ({
  tradeId: "",
  seq: -1,
  exchangeTs: 0,
  priceText: "",
  price: 0,
  priceUnits: 0,
  priceScale: 0,
  qtyUnits: 0,
  qtyScale: 0,
  takerBuy: false,
  count: 0,
})

const scratch: Decimal.Scanned = { units: 0, scale: 0 }

/**
 * Validates a trade (price > 0, qty ≥ 0, exchange time not beyond `now + futureToleranceMs`) and parses its exact
 * price and quantity into `slot`; returns the reason when the trade is refused.
 */
export const checkTrade = (
  t: Trade,
  now: number,
  futureToleranceMs: number,
  slot: CandleTradeSlot,
): TradeRejection | undefined => {
  if (!Decimal.scanCached(t.priceText, t.priceUnits, t.priceScale, scratch)) return "bad_decimal"
  if (!Decimal.isPositive(scratch.units)) return "non_positive_price"
  slot.priceUnits = scratch.units
  slot.priceScale = scratch.scale
  if (!Decimal.scanCached(t.qtyText, t.qtyUnits, t.qtyScale, scratch)) return "bad_decimal"
  if (Decimal.isNegative(scratch.units)) return "negative_qty"
  if (t.exchangeTs > now + futureToleranceMs) return "future_timestamp"
  // REST pages reach here without the feed's edge check (Venue.withLimits); a broken time must not open a candle.
  if (!Number.isSafeInteger(t.exchangeTs) || t.exchangeTs < EARLIEST_TRADE_TS) return "bad_timestamp"
  slot.qtyUnits = scratch.units
  slot.qtyScale = scratch.scale
  slot.tradeId = t.tradeId
  slot.seq = t.seq
  slot.exchangeTs = t.exchangeTs
  slot.priceText = t.priceText
  slot.price = t.price
  slot.takerBuy = t.side === "buy"
  slot.count = t.count
  return undefined
}

export const isPriceJump = (previous: number | undefined, price: number): boolean =>
  previous !== undefined && Math.abs(price - previous) > JUMP_THRESHOLD * previous
