import type { Exchange } from "../Exchange.js"
import { CoinbaseProtocol } from "./Replay.js"
import { CoinbaseVenue } from "./Venue.js"

export const Coinbase: Exchange = { venue: CoinbaseVenue, replay: CoinbaseProtocol }
