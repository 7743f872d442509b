import type { Quote, Tick, Trade } from "../schema/Market.js"

/**
 * A trade with the book top its symbol had when the trade was seen: the seed's "ProcessedTick" before its fields are
 * worked out. Quotes are immutable, so holding the reference pins the book top of that moment; the derived numbers
 * are computed when a sink serialises the tick, which keeps eight boxed doubles per trade off the hot path and out of
 * the sinks' buffers.
 */
export interface EnrichedTrade {
  readonly trade: Trade
  readonly quote: Quote | undefined
}

export const enrich = (trade: Trade, quote: Quote | undefined): EnrichedTrade => ({ trade, quote })

/** The tick's wire fields; book fields are null until a usable quote has been seen. */
export const tickOf = ({ trade, quote }: EnrichedTrade): Tick => {
  const usable = quote !== undefined && quote.bid > 0 && quote.ask > 0
  const mid = usable ? (quote.bid + quote.ask) / 2 : null
  const spread = usable ? quote.ask - quote.bid : null
  return {
    exchange: trade.exchange,
    symbol: trade.symbol,
    bid: usable ? quote.bid : null,
    ask: usable ? quote.ask : null,
    last: trade.price,
    volume: trade.qty,
    timestamp: trade.exchangeTs,
    mid,
    spread,
    spreadBps: mid !== null && spread !== null ? (spread / mid) * 10_000 : null,
  }
}
