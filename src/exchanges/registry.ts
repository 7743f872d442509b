import { Record as Rec } from "effect"
import type { ExchangeId } from "../schema/Market.js"
import { Binance } from "./binance/index.js"
import { Bybit } from "./bybit/index.js"
import { Coinbase } from "./coinbase/index.js"
import type { Exchange } from "./Exchange.js"
import { Kraken } from "./kraken/index.js"
import { Okx } from "./okx/index.js"

/** The exchanges this build supports: one line each. `ExchangeId` (schema/Market.ts) must name the same keys. */
export const EXCHANGES: Record<ExchangeId, Exchange> = {
  binance: Binance,
  coinbase: Coinbase,
  kraken: Kraken,
  bybit: Bybit,
  okx: Okx,
}

export const SUPPORTED_EXCHANGES = Object.keys(EXCHANGES) as ReadonlyArray<ExchangeId>

export const VENUES = Rec.map(EXCHANGES, (e) => e.venue)

export const PROTOCOLS = Rec.map(EXCHANGES, (e) => e.replay)
