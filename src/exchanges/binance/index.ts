import type { Exchange } from "../Exchange.js"
import { BinanceArchive } from "./Archive.js"
import { BinanceProtocol } from "./Replay.js"
import { BinanceVenue } from "./Venue.js"

export const Binance: Exchange = { venue: BinanceVenue, replay: BinanceProtocol, archive: BinanceArchive }
