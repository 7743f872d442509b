import { Effect, Layer } from "effect"
import { Aggregators } from "./actors/aggregation/Aggregators.js"
import { Alerts } from "./actors/Alerts.js"
import { CandleQueueSinkLive } from "./actors/CandleQueueSink.js"
import { DeadLetterWatch } from "./actors/DeadLetterWatch.js"
import { Fleet } from "./actors/Fleet.js"
import { FeedsLive } from "./actors/feed/Feeds.js"
import { StartupHistory } from "./actors/history/StartupHistory.js"
import { SignalsConsumerLive } from "./actors/SignalsConsumer.js"
import { Sinks } from "./actors/Sinks.js"
import { IngestionMetricsLive } from "./actors/IngestionMetrics.js"
import { LiveUpdatesLive } from "./actors/LiveUpdates.js"
import { RetentionLive } from "./actors/Retention.js"
import { StatusViewLive } from "./actors/Status.js"
import { Supervisor } from "./actors/Supervisor.js"
import { AppConfigLive } from "./layers/AppConfig.js"
import { CandleStore } from "./layers/CandleStore.js"
import { FleetLeases } from "./layers/FleetLeases.js"
import { Health } from "./layers/Health.js"
import { HeapLive } from "./layers/Heap.js"
import { HttpLive } from "./layers/Http.js"
import { IndicatorStore } from "./layers/IndicatorStore.js"
import { Influx } from "./layers/Influx.js"
import { LiveHub } from "./layers/LiveHub.js"
import { LoggingLive } from "./layers/Logging.js"
import { PostgresLive } from "./layers/Postgres.js"
import { Rabbit } from "./layers/Rabbit.js"
import { TracingLive } from "./layers/Tracing.js"
import { databaseStartSchedule } from "./domain/Schedules.js"

/** A database that is down at start-up is waited for, with one log line per attempt, like any later outage. */
const DatabaseLive = PostgresLive.pipe(
  Layer.tapErrorCause((cause) => Effect.logWarning("PostgreSQL not ready at start-up; retrying", cause)),
  Layer.retry(databaseStartSchedule),
)

/**
 * The daemon. Each layer is released before the ones it is built on, which is the shutdown order: feeds stop,
 * aggregators drain and snapshot, the publisher and the writers flush, then the database and telemetry close.
 */
export const AppLive = Layer.mergeAll(FeedsLive, HttpLive, RetentionLive, IngestionMetricsLive, LiveUpdatesLive).pipe(
  Layer.provideMerge(StatusViewLive),
  Layer.provideMerge(Alerts.Default),
  Layer.provideMerge(DeadLetterWatch.Default),
  Layer.provideMerge(Aggregators.Default),
  Layer.provideMerge(StartupHistory.Default),
  Layer.provideMerge(Sinks.Default),
  Layer.provideMerge(Layer.merge(CandleQueueSinkLive, SignalsConsumerLive)),
  Layer.provideMerge(Influx.Default),
  Layer.provideMerge(LiveHub.Default),
  Layer.provideMerge(Rabbit.Default),
  Layer.provideMerge(Layer.merge(CandleStore.Default, IndicatorStore.Default)),
  Layer.provideMerge(Fleet.Default),
  Layer.provideMerge(FleetLeases.Default),
  Layer.provideMerge(DatabaseLive),
  Layer.provideMerge(Supervisor.Default),
  Layer.provideMerge(Health.Default),
  Layer.provideMerge(TracingLive),
  Layer.provideMerge(HeapLive),
  Layer.provideMerge(LoggingLive),
  Layer.provideMerge(AppConfigLive),
)

/** Runs until a signal interrupts it or an actor escalates past its restart policy (then it fails: exit 1). */
export const program = Effect.gen(function* () {
  const supervisor = yield* Supervisor
  yield* Effect.logInfo("neuraltrade ingest started")
  return yield* supervisor.awaitFatal
}).pipe(Effect.provide(AppLive))
