import type { Archive } from "./Archive.js"
import type { ReplayProtocol } from "./ReplayProtocol.js"
import type { Venue } from "./Venue.js"

/** Everything the daemon and the replay exchange know about one exchange, from its folder under exchanges/. */
export interface Exchange {
  /** The client side: endpoints, subscriptions, frame decoding, REST history and klines, defaults. */
  readonly venue: Venue
  /** The server side the replay exchange speaks, so the venue can be tested without the exchange. */
  readonly replay: ReplayProtocol
  /** Its public data archive of daily files, for the history command; undefined where it publishes none. */
  readonly archive?: Archive
}
