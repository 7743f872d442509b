import { Clock, Effect, Layer, Schedule } from "effect"
import { IngestionMeter } from "../domain/IngestionMetrics.js"
import { AppConfig } from "../layers/AppConfig.js"
import { CandleStore } from "../layers/CandleStore.js"
import { Aggregators } from "./aggregation/Aggregators.js"

/**
 * The seed's `ingestion_metrics` rows: every INGESTION_METRICS_INTERVAL_MS, each symbol's throughput, latency and
 * error rate over the interval. A write that fails (the database is down) is logged and that interval's rows are
 * lost; the counters they come from are in /metrics all the same.
 */
export const IngestionMetricsLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* CandleStore
    const { ports } = yield* Aggregators
    const start = yield* Clock.currentTimeMillis
    const meters = new Map([...ports.keys()].map((exchange) => [exchange, new IngestionMeter(exchange, start)]))
    const pass = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const rows = [...ports].flatMap(([exchange, port]) => meters.get(exchange)!.sample(port.stats.all(), now))
      yield* store.recordIngestion(rows)
    }).pipe(
      Effect.catchAll((e) => Effect.logWarning(`ingestion_metrics: this interval's rows not written (${e.message})`)),
    )
    yield* Effect.forkScoped(Effect.schedule(pass, Schedule.spaced(config.ingestionMetricsInterval)))
  }),
)
