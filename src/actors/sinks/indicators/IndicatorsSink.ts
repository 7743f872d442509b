import { Duration, Effect, Option, Schema } from "effect"
import { indicatorLine } from "../../../domain/LineProtocol.js"
import { AppConfig } from "../../../layers/AppConfig.js"
import { IndicatorStore } from "../../../layers/IndicatorStore.js"
import { Influx } from "../../../layers/Influx.js"
import { Rabbit } from "../../../layers/Rabbit.js"
import { Candle } from "../../../schema/Candle.js"
import { IndicatorRecord } from "../../../schema/Indicator.js"
import { deadLetterFor, influxWrite, makeLineSink, refusedOutcome } from "../influx/InfluxSink.js"
import { classifySqlError, postgresWriter } from "../postgres/PostgresSink.js"
import { makeConfirmedPublisher } from "../rabbitmq/ConfirmedPublisher.js"
import { indicatorMessage } from "../rabbitmq/Messages.js"
import { unavailable } from "../rabbitmq/RabbitSink.js"
import type { SinkPlugin } from "../registry.js"
import { makeIndicatorComputer } from "./IndicatorComputer.js"
import { makeSink, SinkUnavailable, spillDir } from "../Sink.js"

const decodeCandle = Schema.decodeUnknownOption(Schema.parseJson(Candle))
const decodeRecord = Schema.decodeUnknownOption(Schema.parseJson(IndicatorRecord))

/**
 * Indicators at ingest (`INDICATORS`): final candles go through a sink of their own, so computing them, and warming
 * a series from PostgreSQL on its first candle, never holds back the market sinks; the rows go on to the
 * `indicators` table through a second sink, to InfluxDB's `market_indicators` through a third when INFLUX_URL is set,
 * and as one message per candle (`indicator.<exchange>.<BASE_QUOTE>.<timeframe>`) through a fourth when RABBITMQ_URL
 * is set. Each has its memory and disk buffer, replayed in order after a restart.
 */
export const IndicatorsSink = {
  name: "indicators",
  make: Effect.gen(function* () {
    const config = yield* AppConfig
    if (config.indicators.length === 0) return undefined
    const computer = yield* makeIndicatorComputer
    const indicatorStore = yield* IndicatorStore

    const writeRows = yield* postgresWriter<IndicatorRecord>({
      sink: "indicators-postgres",
      prefix: "indicators",
      field: "record",
      noun: "indicator row(s)",
      upsert: indicatorStore.upsert,
      onStored: () => Effect.void,
    })
    const rows = yield* makeSink<IndicatorRecord>({
      name: "indicators-postgres",
      component: "store:postgres:indicators",
      batchSize: config.storeBatchSize,
      linger: config.storeFlushInterval,
      memoryRecords: config.sinkBuffer.memoryRecords,
      spill: {
        dir: spillDir(config.dataDir, "indicators-postgres"),
        maxBytes: config.sinkBuffer.diskMaxBytes,
        encode: (r) => JSON.stringify(r),
        decode: (line) => decodeRecord(line).pipe((o) => (o._tag === "Some" ? o.value : undefined)),
      },
      write: (records) =>
        writeRows(records).pipe(Effect.withSpan("IndicatorWriter.flush", { attributes: { rows: records.length } })),
    })

    const influx = yield* Influx
    const lines =
      Option.isNone(influx.target) || Option.isNone(config.influx)
        ? undefined
        : yield* Effect.gen(function* () {
            const settings = config.influx.pipe(Option.getOrThrow)
            const target = influx.target.pipe(Option.getOrThrow)
            const write = influxWrite<string>(
              target,
              deadLetterFor(config.dataDir, settings, "indicators"),
              "indicators",
              (l) => l,
            )
            return yield* makeLineSink("indicators-influx", settings, (batch) =>
              Effect.map(write(batch), refusedOutcome),
            )
          })
    const rabbit = yield* Rabbit
    const messages = Option.isNone(rabbit.broker)
      ? undefined
      : yield* Effect.gen(function* () {
          const publisher = yield* makeConfirmedPublisher(rabbit.broker.pipe(Option.getOrThrow), config.publishWindow)
          return yield* makeSink<IndicatorRecord>({
            name: "indicators-rabbitmq",
            component: "sink:rabbitmq",
            batchSize: config.publishWindow,
            linger: Duration.millis(100),
            memoryRecords: config.sinkBuffer.memoryRecords,
            spill: {
              dir: spillDir(config.dataDir, "indicators-rabbitmq"),
              maxBytes: config.sinkBuffer.diskMaxBytes,
              encode: (r) => JSON.stringify(r),
              decode: (line) => decodeRecord(line).pipe((o) => (o._tag === "Some" ? o.value : undefined)),
            },
            write: (records) =>
              publisher
                .publish(records.map((r) => ({ message: indicatorMessage(r), record: r })))
                .pipe(Effect.mapError(unavailable("indicators-rabbitmq", (i) => [i.record]))),
          })
        })
    const outputs = [rows, lines, messages].filter((o) => o !== undefined)

    const compute = (candles: ReadonlyArray<Candle>) =>
      computer
        .compute(candles, (records) =>
          Effect.all([
            rows.offer(records),
            lines === undefined ? Effect.void : lines.offer(records.map(indicatorLine)),
            messages === undefined ? Effect.void : messages.offer(records),
          ]),
        )
        .pipe(
          Effect.mapError(
            (e) =>
              new SinkUnavailable({
                sink: "indicators",
                reason: `cannot read the candles to warm ${e.series} with (${classifySqlError(e.cause).reason})`,
                remaining: e.remaining,
              }),
          ),
        )

    const engine = yield* makeSink<Candle>({
      name: "indicators",
      component: "indicators",
      batchSize: config.storeBatchSize,
      // Final candles come in bursts at bucket ends; a short wait gathers one burst without delaying it.
      linger: Duration.millis(100),
      memoryRecords: config.sinkBuffer.memoryRecords,
      spill: {
        dir: spillDir(config.dataDir, "indicators"),
        maxBytes: config.sinkBuffer.diskMaxBytes,
        encode: (c) => JSON.stringify(c),
        decode: (line) => decodeCandle(line).pipe((o) => (o._tag === "Some" ? o.value : undefined)),
      },
      write: compute,
    })
    yield* Effect.logInfo(
      `indicators: ${computer.set.names.join(", ")} from final candles; each series warmed from its last ${computer.set.warmUpCandles()} stored candles`,
    )
    return {
      name: engine.name,
      status: engine.status,
      outputs: () => outputs.map((o) => o.status()),
      candles: (cs) => {
        const finals = cs.filter((c) => c.isFinal)
        return finals.length === 0 ? Effect.void : engine.offer(finals)
      },
    }
  }),
} satisfies SinkPlugin
