import type { Trade } from "../../src/schema/Market.js"

/** A Binance-like trade for tests; ids double as the contiguous sequence. */
export const trade = (
  id: number,
  exchangeTs: number,
  price: string,
  qty: string,
  side: "buy" | "sell" = "buy",
  symbol = "BTC/USDT",
): Trade => ({
  _tag: "Trade",
  exchange: "binance",
  symbol,
  tradeId: String(id),
  seq: id,
  price: Number(price),
  qty: Number(qty),
  priceText: price,
  qtyText: qty,
  side,
  exchangeTs,
  recvTs: exchangeTs,
  isBuyerMaker: side === "sell",
  count: 1,
})
