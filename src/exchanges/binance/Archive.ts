import type { VenueCandle } from "../../domain/Reconciliation.js"
import { type Archive, archiveMillis } from "../Archive.js"
import { toTrade } from "./Venue.js"

const isTrue = (s: string | undefined) => s === "True" || s === "true"

/** A header row (newer files have one) starts with a column name, not a number. */
const isHeader = (row: ReadonlyArray<string>) => !/^\d/.test(row[0] ?? "")

/**
 * Binance's public data (data.binance.vision): `spot/daily/aggTrades/<SYMBOL>/<SYMBOL>-aggTrades-<day>.zip` with
 * rows `a,p,q,f,l,T,m,M`, and `spot/daily/klines/<SYMBOL>/1m/<SYMBOL>-1m-<day>.zip` with the 12 kline columns.
 * The aggTrade ids are the ones the `@aggTrade` stream and `/api/v3/aggTrades` number.
 */
export const BinanceArchive: Archive = {
  tradesPath: (instrument, day) => `spot/daily/aggTrades/${instrument}/${instrument}-aggTrades-${day}.zip`,
  klinesPath: (instrument, day) => `spot/daily/klines/${instrument}/1m/${instrument}-1m-${day}.zip`,
  trade: (row, symbol, recvTs) => {
    if (isHeader(row)) return undefined
    const [a, p, q, f, l, T, m] = row
    if (row.length < 7) return `aggTrades row of ${row.length} column(s), expected a,p,q,f,l,T,m,M`
    const t = toTrade(
      symbol,
      Number(a),
      { p: p!, q: q!, m: isTrue(m), T: archiveMillis(T!) },
      Number(l) - Number(f) + 1,
      recvTs,
    )
    if (t._tag === "Trade") return t
    return t._tag === "Invalid" ? t.detail() : t._tag
  },
  kline: (row): VenueCandle | string | undefined => {
    if (isHeader(row)) return undefined
    if (row.length < 11) return `klines row of ${row.length} column(s), expected 12`
    const [openTime, open, high, low, close, volume, , quoteVolume, trades, takerBuyBase, takerBuyQuote] = row
    return {
      openTime: archiveMillis(openTime!),
      open: open!,
      high: high!,
      low: low!,
      close: close!,
      volume: volume!,
      quoteVolume: quoteVolume!,
      trades: Number(trades),
      takerBuyBase: takerBuyBase!,
      takerBuyQuote: takerBuyQuote!,
    }
  },
}
