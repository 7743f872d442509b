import { Duration, Effect, Layer } from "effect"
import { AppConfig } from "../layers/AppConfig.js"
import { LiveHub, watchKey } from "../layers/LiveHub.js"
import { StatusView } from "../layers/StatusView.js"
import { Aggregators } from "./aggregation/Aggregators.js"
import { Supervisor } from "./Supervisor.js"

/**
 * What the live page sees move: at most LIVE_UPDATES_PER_SECOND, each watched series' open candles as the
 * aggregator holds them (sent when they changed, or to a client that just started watching), and every
 * LIVE_STATUS_INTERVAL_MS the `/api/status` answer. Both only while a page is connected.
 */
export const LiveUpdatesLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const hub = yield* LiveHub
    const aggregators = yield* Aggregators
    const view = yield* StatusView
    const supervisor = yield* Supervisor
    const sent = new Map<string, { readonly message: string; readonly clients: number }>()

    const pushOpen = Effect.sync(() => {
      const watched = hub.watched()
      const current = new Set<string>()
      for (const { watch, clients } of watched) {
        const key = watchKey(watch)
        current.add(key)
        const candles = aggregators
          .openCandles(watch.exchange, watch.symbol)
          .filter((c) => c.timeframe === watch.timeframe)
          .sort((a, b) => a.openTime - b.openTime)
        if (candles.length === 0) continue
        const message = JSON.stringify({ type: "open", candles })
        const last = sent.get(key)
        // A client that just began watching gets the open candle even when it has not moved since.
        if (last !== undefined && last.message === message && last.clients >= clients) continue
        sent.set(key, { message, clients })
        hub.toWatchers(watch, message)
      }
      for (const key of sent.keys()) if (!current.has(key)) sent.delete(key)
    })

    const pushStatus = Effect.gen(function* () {
      if (hub.clients() === 0) return
      const status = yield* view.status
      hub.broadcast(JSON.stringify({ type: "status", status }))
    })

    yield* supervisor.spawn(
      "live:open-candles",
      Effect.forever(
        Effect.zipRight(
          pushOpen,
          Effect.sleep(Duration.millis(Math.max(1, Math.floor(1_000 / config.live.updatesPerSecond)))),
        ),
      ),
    )
    yield* supervisor.spawn(
      "live:status",
      Effect.forever(Effect.zipRight(pushStatus, Effect.sleep(config.live.statusInterval))),
    )
  }),
)
