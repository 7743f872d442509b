import { Clock, Duration, Effect, Metric } from "effect"
import type { ActivityMonitor } from "../../domain/ActivityMonitor.js"
import * as Metrics from "../../layers/Metrics.js"
import type { FeedSetup } from "./FeedSetup.js"

/** Logs and counts each symbol that has gone quiet for longer than its usual pace allows. */
export const reportQuiet = (f: FeedSetup, quiet: ActivityMonitor) =>
  Effect.gen(function* () {
    while (true) {
      const now = yield* Clock.currentTimeMillis
      for (const t of quiet.check(now)) {
        yield* Metric.increment(
          Metric.tagged(Metric.tagged(Metrics.quietSymbols, "exchange", f.exchange), "symbol", t.key),
        )
        yield* Effect.logWarning(
          `${f.exchange} ${t.key}: no trade for ${Duration.format(Duration.millis(t.silentMs))}, longer than its usual pace allows (${Duration.format(Duration.millis(t.limitMs))}); the connection is fine, the market may be quiet`,
        )
      }
      // Woken at least every FEED_STALE_MS: a symbol that trades again makes its next deadline finite.
      yield* Effect.sleep(Duration.millis(Math.min(f.staleMs, Math.max(1_000, quiet.nextCheckAt() - now))))
    }
  })
