import type { Quote, Tick, Trade } from "../schema/Market.js"

/** A trade with the latest best bid/ask of its symbol; book fields are null until a usable quote has been seen. */
export const enrich = (trade: Trade, quote: Quote | undefined): Tick => {
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
