import type { Effect } from "effect"
import type { SymbolMap } from "../../domain/SymbolMap.js"
import type { Venue } from "../../exchanges/Venue.js"
import type { AppConfigShape, FeedConfig } from "../../layers/AppConfig.js"
import type { Health } from "../../layers/Health.js"
import type { ExchangeId } from "../../schema/Market.js"
import type { Backfill } from "./Backfill.js"
import type { makeFrameRouter } from "./FrameRouter.js"

/** What every part of one exchange's feed shares, fixed when the feed starts (`Feed.ts`). */
export interface FeedSetup {
  readonly exchange: ExchangeId
  readonly venue: Venue
  readonly feed: FeedConfig
  readonly config: AppConfigShape
  readonly health: Health
  /** The WebSocket URL every connection of this feed opens. */
  readonly url: string
  readonly symbols: SymbolMap
  readonly staleMs: number
  readonly startedAt: number
  readonly route: ReturnType<typeof makeFrameRouter>
  /** REST history; undefined where the venue has none by trade id. */
  readonly backfill: Backfill | undefined
  /** The feed's event time now, less the grace a late trade may take: where an outage starting now begins. */
  readonly eventTimeNow: Effect.Effect<number>
  /** When a connection is replaced before the venue's forced disconnect; undefined where there is none. */
  readonly rotateAfterMs: number | undefined
}
