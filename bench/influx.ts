/**
 * InfluxDB write benchmark against the local target (INFLUX_URL, default the v2-write proxy over influxd that
 * scripts/services.sh starts): tick points through the InfluxDB sink with the default batch (20,000 lines) against
 * batches of 5,000, in the same run. Each run writes into a fresh bucket and is timed from the first offer until
 * the sink has drained (every batch answered). Median of interleaved rounds.
 */
import { Duration, Effect, Layer, LogLevel, Logger, Option, Redacted } from "effect"
import { InfluxSink } from "../src/actors/sinks/influx/InfluxSink.js"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Supervisor } from "../src/actors/Supervisor.js"
import { AppConfig } from "../src/layers/AppConfig.js"
import { Health } from "../src/layers/Health.js"
import { Influx } from "../src/layers/Influx.js"
import { sampleTickWith } from "../test/support/samples.js"
import { testConfig } from "../test/support/config.js"
import { INFLUX, scratchBucket } from "../test/support/influx.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const N = Number(process.env.BENCH_POINTS ?? 100_000)
const BATCHES = [20_000, 5_000]

const ticks = Array.from({ length: N }, (_, i) =>
  sampleTickWith(i, { tradeId: String(i), price: 30_000 + (i % 100) / 10 }),
)

const measure = (batchLines: number) =>
  Effect.gen(function* () {
    const bucket = yield* Effect.promise(() => scratchBucket())
    const dataDir = mkdtempSync(join(tmpdir(), "bench-influx-"))
    const layer = Influx.Default.pipe(
      Layer.provideMerge(Supervisor.Default),
      Layer.provideMerge(Health.Default),
      Layer.provideMerge(
        Layer.succeed(
          AppConfig,
          testConfig({
            shutdownTimeout: Duration.minutes(5),
            dataDir,
            influx: Option.some({
              url: process.env.INFLUX_URL ?? INFLUX.proxy,
              token: Option.some(Redacted.make(process.env.INFLUX_TOKEN ?? INFLUX.token)),
              org: INFLUX.org,
              bucket: bucket.name,
              batchLines,
              flushInterval: Duration.seconds(1),
              timeout: Duration.seconds(30),
              gzip: process.env.INFLUX_GZIP === "true",
              deadLetterMaxBytes: 1024 * 1024,
            }),
          }),
        ),
      ),
    )
    const started = performance.now()
    // Closing the sink waits until every batch was answered.
    yield* Effect.gen(function* () {
      const sink = (yield* InfluxSink.make)!
      yield* sink.ticks(ticks)
    }).pipe(Effect.scoped, Effect.provide(layer))
    const rate = N / ((performance.now() - started) / 1_000)
    yield* Effect.promise(bucket.drop)
    rmSync(dataDir, { recursive: true, force: true })
    return rate
  })

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = Effect.gen(function* () {
  const results = new Map<number, Array<number>>()
  for (let r = 0; r < ROUNDS; r++)
    for (const batch of BATCHES) results.set(batch, [...(results.get(batch) ?? []), yield* measure(batch)])
  console.log(`node ${process.version}, ${N} tick points per run, ${ROUNDS} rounds, median points/s written`)
  console.log("| batch 20,000 (default) | batch 5,000 | ratio |")
  console.log("|---:|---:|---:|")
  const [big, small] = BATCHES.map((b) => median(results.get(b)!))
  console.log(
    `| ${Math.round(big!).toLocaleString("en")} | ${Math.round(small!).toLocaleString("en")} | ${(big! / small!).toFixed(2)}× |`,
  )
})

Effect.runPromise(main.pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
