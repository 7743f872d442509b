import { Duration, Effect, Layer, Option, Schedule } from "effect"
import { signalLine } from "../domain/LineProtocol.js"
import { INGEST_SIGNALS_QUEUE, ownQueue, SIGNALS } from "../domain/Topology.js"
import { AppConfig } from "../layers/AppConfig.js"
import { Influx } from "../layers/Influx.js"
import { Rabbit } from "../layers/Rabbit.js"
import { signalMessage } from "../schema/Signal.js"
import { PermanentError, runConsumer } from "./Consumer.js"
import { makeSignalsWriter } from "./sinks/influx/InfluxSink.js"
import { Supervisor } from "./Supervisor.js"

/** How long a batch of signals waits for more before it is written: acks wait for the write. */
const SIGNALS_LINGER = Duration.millis(50)

/**
 * Model signals from the daemon's own `ingest.signals` (bound to `neuraltrade.signals` for SIGNALS_KEYS, so the
 * Execution Service keeps every message of its `signals.high_confidence`) into InfluxDB's `ml_signals`, through a
 * writer of their own: each message is acked only after InfluxDB has its point, and up to SIGNALS_PREFETCH are in
 * flight so they share write requests. An InfluxDB outage is waited out by the writer with the messages unacked; a
 * point InfluxDB refuses goes to `ingest.signals.dlq` with the reason (and, like every refused line, to the Influx dead-letter file).
 * Runs when both RABBITMQ_URL and INFLUX_URL are set.
 */
export const SignalsConsumerLive = Layer.scopedDiscard(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const rabbit = yield* Rabbit
    const influx = yield* Influx
    if (Option.isNone(rabbit.broker) || Option.isNone(influx.target) || Option.isNone(config.influx)) {
      if (Option.isSome(rabbit.broker))
        yield* Effect.logInfo(`signals consumer off: INFLUX_URL is unset, ${INGEST_SIGNALS_QUEUE} is not declared`)
      return
    }
    const target = influx.target.value
    const sink = yield* makeSignalsWriter(target, config.influx.value, config.signalsPrefetch, SIGNALS_LINGER)
    const supervisor = yield* Supervisor
    yield* supervisor.spawn(
      "consumer:signals",
      runConsumer(rabbit.broker.value, {
        name: "consumer:signals",
        queue: INGEST_SIGNALS_QUEUE,
        declare: ownQueue(
          INGEST_SIGNALS_QUEUE,
          config.signalsKeys.map((key) => ({ exchange: SIGNALS, key })),
          config.queueType,
        ),
        prefetch: config.signalsPrefetch,
        concurrency: config.signalsPrefetch,
        // A seed-form signal without an exchange is taken to be about the first configured feed's.
        schema: signalMessage(config.feeds[0]?.exchange ?? "binance"),
        remember: 100_000,
        // The writer itself retries an unavailable InfluxDB for as long as it takes; nothing here is retryable.
        retry: Schedule.stop,
        handle: (signal) =>
          sink.write(signalLine(signal)).pipe(Effect.mapError((e) => new PermanentError({ reason: e.reason }))),
      }),
    )
  }),
)
