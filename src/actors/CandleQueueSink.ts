import { Effect, Layer, Option } from "effect"
import { INGEST_OHLCV_QUEUE, MARKET, ownQueue } from "../domain/Topology.js"
import { AppConfig, ConfigInvalid } from "../layers/AppConfig.js"
import { CandleStore } from "../layers/CandleStore.js"
import { Rabbit } from "../layers/Rabbit.js"
import { Candle } from "../schema/Candle.js"
import { classifySqlError, recordStored } from "./sinks/postgres/PostgresSink.js"
import { sinkRetrySchedule } from "../domain/Schedules.js"
import { PermanentError, RetryableError, runConsumer } from "./Consumer.js"
import { Supervisor } from "./Supervisor.js"

/**
 * CANDLE_SINK=queue: candles reach PostgreSQL through the daemon's own `ingest.ohlcv` (bound to `ohlcv.#`, no TTL,
 * so a database outage of any length loses nothing; `market.ohlcv` stays the ML engine's) and this consumer instead
 * of the direct writer, so that a fleet of daemons (competing consumers on one queue) shares the writing. A message
 * is acked only after its upsert; a database outage is waited out with the message unacked; a row the database
 * refuses goes to `ingest.ohlcv.dlq` with the reason.
 */
export const CandleQueueSinkLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    if (config.candleSink !== "queue") return
    const rabbit = yield* Rabbit
    if (Option.isNone(rabbit.broker))
      return yield* new ConfigInvalid({
        message: "invalid configuration: CANDLE_SINK=queue needs RABBITMQ_URL (or set CANDLE_SINK=direct)",
      })
    const store = yield* CandleStore
    const supervisor = yield* Supervisor
    yield* supervisor.spawn(
      "consumer:ohlcv",
      runConsumer(rabbit.broker.value, {
        name: "consumer:ohlcv",
        queue: INGEST_OHLCV_QUEUE,
        declare: ownQueue(INGEST_OHLCV_QUEUE, [{ exchange: MARKET, key: "ohlcv.#" }], config.queueType),
        prefetch: config.storeBatchSize,
        concurrency: 1,
        schema: Candle,
        remember: 100_000,
        retry: sinkRetrySchedule,
        handle: (candle) =>
          store.upsert([candle]).pipe(
            Effect.zipRight(recordStored([candle])),
            Effect.mapError(classifySqlError),
            Effect.catchTags({
              CandlesRejected: (e) => Effect.fail(new PermanentError({ reason: e.reason })),
              StoreUnavailable: (e) => Effect.fail(new RetryableError({ reason: e.reason })),
            }),
          ),
      }),
    )
  }),
)
