import type { ExchangeId } from "../../schema/Market.js"
import type { ReplayProtocol } from "../Protocol.js"
import { BinanceProtocol } from "./Binance.js"
import { BybitProtocol } from "./Bybit.js"
import { CoinbaseProtocol } from "./Coinbase.js"
import { KrakenProtocol } from "./Kraken.js"
import { OkxProtocol } from "./Okx.js"

export const PROTOCOLS: Record<ExchangeId, ReplayProtocol> = {
  binance: BinanceProtocol,
  coinbase: CoinbaseProtocol,
  kraken: KrakenProtocol,
  bybit: BybitProtocol,
  okx: OkxProtocol,
}
