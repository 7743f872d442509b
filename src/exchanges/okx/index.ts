import type { Exchange } from "../Exchange.js"
import { OkxProtocol } from "./Replay.js"
import { OkxVenue } from "./Venue.js"

export const Okx: Exchange = { venue: OkxVenue, replay: OkxProtocol }
