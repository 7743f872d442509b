import { Effect, Layer } from "effect"
import { AppConfig } from "../layers/AppConfig.js"
import { runBinanceFeed } from "./BinanceFeed.js"
import { Supervisor } from "./Supervisor.js"

/** Starts one supervised feed actor per exchange in FEEDS; stopping the layer closes their sockets first. */
export const FeedsLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    for (const feed of config.feeds) {
      switch (feed.exchange) {
        case "binance":
          yield* supervisor.spawn("feed:binance", runBinanceFeed(feed))
          break
        default:
          return yield* Effect.dieMessage(`no feed actor for ${feed.exchange}`)
      }
    }
  }),
)
