import type { Exchange } from "../Exchange.js"
import { BybitProtocol } from "./Replay.js"
import { BybitVenue } from "./Venue.js"

export const Bybit: Exchange = { venue: BybitVenue, replay: BybitProtocol }
