import type { Exchange } from "../Exchange.js"
import { KrakenProtocol } from "./Replay.js"
import { KrakenVenue } from "./Venue.js"

export const Kraken: Exchange = { venue: KrakenVenue, replay: KrakenProtocol }
