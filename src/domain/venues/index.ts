import type { ExchangeId } from "../../schema/Market.js"
import { BinanceVenue } from "./Binance.js"
import { BybitVenue } from "./Bybit.js"
import { CoinbaseVenue } from "./Coinbase.js"
import { KrakenVenue } from "./Kraken.js"
import { OkxVenue } from "./Okx.js"
import type { Venue } from "./Venue.js"

export const VENUES: Record<ExchangeId, Venue> = {
  binance: BinanceVenue,
  coinbase: CoinbaseVenue,
  kraken: KrakenVenue,
  bybit: BybitVenue,
  okx: OkxVenue,
}
