import { Array as Arr, Deferred, Effect, Fiber, Layer, Option, Stream } from "effect"
import { VENUES } from "../../exchanges/registry.js"
import type { Venue } from "../../exchanges/Venue.js"
import { AppConfig, type FeedConfig } from "../../layers/AppConfig.js"
import { Aggregators } from "../aggregation/Aggregators.js"
import { Fleet } from "../Fleet.js"
import { Sinks } from "../Sinks.js"
import { Supervisor } from "../Supervisor.js"
import { runFeed } from "./Feed.js"

/**
 * A shared fleet member's feed of one exchange: it runs the symbols this member holds leases for, and when they
 * change, stops the feed and its aggregators (which snapshot what is open), waits until PostgreSQL has their last
 * candles, gives up the leases of the symbols that moved, and starts again with its new share, each symbol resumed
 * from the store. A symbol taken over resumes where its previous owner's stored progress ends, through the backfill.
 */
const followOwnership = (venue: Venue, feed: FeedConfig) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const fleet = yield* Fleet
    const aggregators = yield* Aggregators
    const sinks = yield* Sinks
    const failed = yield* Deferred.make<never, unknown>()
    const run = (symbols: ReadonlyArray<string>) =>
      Effect.scoped(
        Effect.zipRight(aggregators.attach(feed.exchange, symbols), runFeed(venue, { ...feed, symbols })),
      ).pipe(
        Effect.ensuring(
          Effect.suspend(() =>
            fleet.handingOver(feed.exchange, symbols)
              ? Effect.zipRight(
                  sinks.drained("postgres", config.shutdownTimeout),
                  fleet.handedOver(feed.exchange, symbols),
                )
              : Effect.void,
          ),
        ),
        Effect.catchAllCause((cause) => Effect.asVoid(Deferred.failCause(failed, cause))),
      )
    let current: Fiber.RuntimeFiber<void> | undefined
    const follow = fleet.owned(feed.exchange).pipe(
      Stream.changesWith(Arr.getEquivalence<string>((a, b) => a === b)),
      Stream.runForEach((symbols) =>
        Effect.gen(function* () {
          if (current !== undefined) yield* Fiber.interrupt(current)
          current = symbols.length === 0 ? undefined : yield* Effect.forkScoped(run(symbols))
        }),
      ),
    )
    return yield* Effect.scoped(Effect.raceFirst(follow, Deferred.await(failed)))
  })

/** Starts one supervised feed actor per exchange in FEEDS; stopping the layer closes their sockets first. */
export const FeedsLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    const shared = Option.exists(config.fleet, (f) => f.mode === "shared")
    for (const feed of config.feeds)
      yield* supervisor.spawn(
        `feed:${feed.exchange}`,
        shared ? followOwnership(VENUES[feed.exchange], feed) : runFeed(VENUES[feed.exchange], feed),
      )
  }),
)
