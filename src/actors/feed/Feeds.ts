import { Effect, Layer } from "effect"
import { VENUES } from "../../exchanges/registry.js"
import { AppConfig } from "../../layers/AppConfig.js"
import { runFeed } from "./Feed.js"
import { Supervisor } from "../Supervisor.js"

/** Starts one supervised feed actor per exchange in FEEDS; stopping the layer closes their sockets first. */
export const FeedsLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    for (const feed of config.feeds)
      yield* supervisor.spawn(`feed:${feed.exchange}`, runFeed(VENUES[feed.exchange], feed))
  }),
)
