import { join } from "node:path"
import { Deferred, Duration, Effect, Metric, Option } from "effect"
import { tickText } from "../../../domain/Enrichment.js"
import { candleLine, tickLine } from "../../../domain/LineProtocol.js"
import { AppConfig, type InfluxSettings } from "../../../layers/AppConfig.js"
import { type DeadLetter, makeDeadLetter } from "../../../layers/DeadLetter.js"
import { Influx, type InfluxRejected, type InfluxTarget, rejectionHint } from "../../../layers/Influx.js"
import * as Metrics from "../../../layers/Metrics.js"
import type { SinkPlugin } from "../registry.js"
import { makeSink, SinkUnavailable, type SinkWritten, spillDir, writeSplitting } from "../Sink.js"

export const deadLetterFor = (dataDir: string, settings: InfluxSettings, name: string) =>
  makeDeadLetter({
    sink: "influx",
    dir: join(dataDir, "influx-deadletter"),
    prefix: name,
    extension: "lp",
    fileMaxBytes: Math.min(64 * 1024 * 1024, settings.deadLetterMaxBytes),
    totalMaxBytes: settings.deadLetterMaxBytes,
  })

/**
 * One attempt at writing lines, as one request: what InfluxDB cannot take now fails as SinkUnavailable (with its
 * Retry-After); a refusal is split (413 always; 400/422 to isolate the bad lines, since the rest of a batch is fine
 * to write again) down to the lines refused, which go to the dead-letter file with the error as a `#` comment.
 */
export const influxWrite =
  <R>(target: InfluxTarget, deadLetter: DeadLetter, name: string, lineOf: (r: R) => string) =>
  (records: ReadonlyArray<R>) => {
    const tag = <T, In, O>(m: Metric.Metric<T, In, O>) =>
      Metric.tagged(Metric.tagged(m, "sink", "influx"), "writer", name)
    const refuse = (rs: ReadonlyArray<R>, error: InfluxRejected) => {
      const header = `# ${new Date().toISOString()} InfluxDB refused ${rs.length} line(s): ${error.reason.replace(/\s+/g, " ")}\n`
      return deadLetter.append(`${header}${rs.map(lineOf).join("\n")}\n`).pipe(
        Effect.tap((file) =>
          Effect.logError(
            `InfluxDB refused ${rs.length} ${name} line(s) (${error.reason}; ${rejectionHint(error.status)}); written to ${file}`,
          ),
        ),
        Effect.zipRight(Metric.incrementBy(tag(Metrics.deadLettered), rs.length)),
        Effect.orDie,
      )
    }
    const attempt = (rs: ReadonlyArray<R>) =>
      target.write(rs.map(lineOf)).pipe(
        Metric.trackDuration(Metric.tagged(Metrics.storeLatency, "sink", "influx")),
        Effect.tap(() => Metric.incrementBy(Metric.tagged(Metrics.influxLinesWritten, "writer", name), rs.length)),
        Effect.catchTag("InfluxUnavailable", (e) =>
          Effect.fail(
            new SinkUnavailable({
              sink: `influx:${name}`,
              reason: `InfluxDB unavailable (${e.reason})`,
              remaining: rs,
              retryAfterMs: e.retryAfterMs,
            }),
          ),
        ),
        Effect.tapError((e) =>
          e._tag === "InfluxRejected"
            ? Metric.increment(Metric.tagged(tag(Metrics.storeFailures), "kind", "rejected"))
            : Effect.void,
        ),
      )
    return Metric.update(Metric.tagged(Metrics.storeBatchSize, "sink", "influx"), records.length).pipe(
      Effect.zipRight(
        writeSplitting(records, attempt, (e) => e.status === 413 || e.status === 400 || e.status === 422, refuse),
      ),
      Effect.withSpan("InfluxWriter.flush", { attributes: { writer: name, lines: records.length } }),
    )
  }

/** A refusal marks InfluxDB down with what to do about it, until a write goes through whole. */
export const refusedOutcome = (refused: ReadonlyArray<{ readonly error: InfluxRejected }>): SinkWritten =>
  refused.length === 0
    ? undefined
    : { refused: `refused: ${refused[0]!.error.reason}; ${rejectionHint(refused[0]!.error.status)}` }

/** A sink of InfluxDB lines: batched by INFLUX_BATCH_SIZE and INFLUX_FLUSH_MS, spilled to disk as they are. */
export const makeLineSink = (
  name: string,
  settings: InfluxSettings,
  write: (lines: ReadonlyArray<string>) => Effect.Effect<SinkWritten, SinkUnavailable>,
) =>
  Effect.flatMap(AppConfig, (config) =>
    makeSink<string>({
      name,
      component: "store:influx",
      batchSize: settings.batchLines,
      linger: settings.flushInterval,
      memoryRecords: config.sinkBuffer.memoryRecords,
      spill: {
        dir: spillDir(config.dataDir, name),
        maxBytes: config.sinkBuffer.diskMaxBytes,
        encode: (l) => l,
        decode: (l) => (l.length > 0 && !l.startsWith("#") ? l : undefined),
      },
      write,
    }),
  )

/**
 * Ticks (`market_ticks`) and candles (`market_ohlcv`) to InfluxDB, when INFLUX_URL is set. Lines are built when
 * offered, so the buffers and the disk hold them ready to send.
 */
export const InfluxSink = {
  name: "influx",
  make: Effect.gen(function* () {
    const config = yield* AppConfig
    const influx = yield* Influx
    if (Option.isNone(influx.target) || Option.isNone(config.influx)) return undefined
    const settings = config.influx.value
    const target = influx.target.value
    const write = influxWrite<string>(target, deadLetterFor(config.dataDir, settings, "market"), "market", (l) => l)
    const delivered = Metrics.tickDelivered("influx")
    const sink = yield* makeLineSink("influx", settings, (lines) =>
      write(lines).pipe(
        Effect.tap(() => {
          // Lines are buffered in the order they came, so the first tick line is the oldest; its timestamp is the
          // line's last field, in ns.
          const first = lines.find((l) => l.startsWith("market_ticks,"))
          return first === undefined ? Effect.void : delivered(Number(first.slice(first.lastIndexOf(" ") + 1, -6)))
        }),
        Effect.map(refusedOutcome),
      ),
    )
    return {
      name: sink.name,
      status: sink.status,
      candles: (cs) => sink.offer(cs.map(candleLine)),
      ticks: (ts) => sink.offer(ts.map((t) => tickLine(tickText(t), t.trade.tradeId))),
    }
  }),
} satisfies SinkPlugin

/** A line whose writer waits for its outcome (a signal is acked only once it is stored). */
interface Awaited {
  readonly line: string
  readonly done: Deferred.Deferred<void, InfluxRejected>
}

/**
 * The signals' own InfluxDB writer (`ml_signals`), so an acked signal never waits behind a backlog of ticks. It
 * never spills: a signal is acked only once it is stored, so the broker already holds every signal not yet
 * written, and its memory buffer (SIGNALS_PREFETCH) is all it needs.
 */
export const makeSignalsWriter = (
  target: InfluxTarget,
  settings: InfluxSettings,
  prefetch: number,
  linger: Duration.Duration,
) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const write = influxWrite<Awaited>(
      target,
      deadLetterFor(config.dataDir, settings, "signals"),
      "signals",
      (a) => a.line,
    )
    const sink = yield* makeSink<Awaited>({
      name: "influx-signals",
      component: "store:influx",
      batchSize: prefetch,
      linger,
      memoryRecords: prefetch,
      spill: undefined,
      write: (batch) =>
        Effect.flatMap(write(batch), (refused) =>
          Effect.sync(() => {
            const failed = new Map<Awaited, InfluxRejected>()
            for (const r of refused) for (const a of r.records) failed.set(a, r.error)
            for (const a of batch) {
              const error = failed.get(a)
              Deferred.unsafeDone(a.done, error === undefined ? Effect.void : Effect.fail(error))
            }
            return refusedOutcome(refused)
          }),
        ),
    })
    return {
      /** Writes one line and returns once InfluxDB has it, or fails with the refusal. */
      write: (line: string) =>
        Effect.flatMap(Deferred.make<void, InfluxRejected>(), (done) =>
          Effect.zipRight(sink.offer([{ line, done }]), Deferred.await(done)),
        ),
    }
  })
