/**
 * Confirmed-publish benchmark against the real broker (RABBITMQ_URL, default the local one), through the RabbitMQ
 * sink: candles (persistent, to market.ohlcv) with the default window of 512 unconfirmed messages against a window
 * of 1 (one confirm round trip per message), and ticks (non-persistent, to market.ticks) batched per symbol
 * (TICK_BATCH_MAX 200, the default) against one message per tick, in the same run. Timed from the first offer
 * until the sink closed, which waits for every confirm. Median of interleaved rounds; queues purged around each.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import amqp from "amqplib"
import { Duration, Effect, Layer, LogLevel, Logger, Option, Redacted } from "effect"
import { RabbitSink } from "../src/actors/sinks/rabbitmq/RabbitSink.js"
import { Supervisor } from "../src/actors/Supervisor.js"
import { OHLCV_QUEUE, TICKS_QUEUE } from "../src/domain/Topology.js"
import { AppConfig } from "../src/layers/AppConfig.js"
import { Health } from "../src/layers/Health.js"
import { Rabbit } from "../src/layers/Rabbit.js"
import { testConfig } from "../test/support/config.js"
import { sampleCandle, sampleTick } from "../test/support/samples.js"

const URL = process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const N = Number(process.env.BENCH_MESSAGES ?? 20_000)

const candles = Array.from({ length: N }, (_, i) => sampleCandle(i))
const ticks = Array.from({ length: N }, (_, i) => sampleTick(i))

const purge = async () => {
  const conn = await amqp.connect(URL)
  const ch = await conn.createChannel()
  await ch.purgeQueue(OHLCV_QUEUE).catch(() => undefined)
  await ch.purgeQueue(TICKS_QUEUE).catch(() => undefined)
  await conn.close()
}

interface Setting {
  readonly kind: "candle" | "tick"
  readonly window: number
  readonly tickBatch: number
}

/** Records per second from the first offer until the sink closed, which waits for every confirm. */
const measure = (s: Setting) =>
  Effect.gen(function* () {
    yield* Effect.promise(purge)
    const dataDir = mkdtempSync(join(tmpdir(), "bench-publish-"))
    const layer = Rabbit.Default.pipe(
      Layer.provideMerge(Supervisor.Default),
      Layer.provideMerge(Health.Default),
      Layer.provideMerge(
        Layer.succeed(
          AppConfig,
          testConfig({
            rabbitmqUrl: Option.some(Redacted.make(URL)),
            publishWindow: s.window,
            tickBatch: { max: s.tickBatch, wait: Duration.millis(100) },
            dataDir,
            shutdownTimeout: Duration.minutes(5),
          }),
        ),
      ),
    )
    let started = 0
    yield* Effect.gen(function* () {
      const health = yield* Health
      while ((yield* health.report).components.rabbitmq?.state !== "up") yield* Effect.sleep(Duration.millis(10))
      const sink = (yield* RabbitSink.make)!
      started = performance.now()
      yield* s.kind === "candle" ? sink.candles(candles) : sink.ticks(ticks)
    }).pipe(Effect.scoped, Effect.provide(layer))
    const rate = N / ((performance.now() - started) / 1_000)
    yield* Effect.promise(purge)
    rmSync(dataDir, { recursive: true, force: true })
    return rate
  })

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const SETTINGS: ReadonlyArray<[string, Setting, Setting]> = [
  ["candles", { kind: "candle", window: 512, tickBatch: 200 }, { kind: "candle", window: 1, tickBatch: 200 }],
  ["ticks", { kind: "tick", window: 512, tickBatch: 200 }, { kind: "tick", window: 512, tickBatch: 1 }],
]

const main = Effect.gen(function* () {
  const results = new Map<Setting, Array<number>>()
  for (let r = 0; r < ROUNDS; r++)
    for (const [, a, b] of SETTINGS)
      for (const s of [a, b]) results.set(s, [...(results.get(s) ?? []), yield* measure(s)])
  console.log(`node ${process.version}, ${N} records per run, ${ROUNDS} rounds, median confirmed records/s`)
  console.log("| records | default (window 512, 200 ticks a message) | baseline | ratio |")
  console.log("|---|---:|---:|---:|")
  for (const [name, a, b] of SETTINGS) {
    const x = median(results.get(a)!)
    const y = median(results.get(b)!)
    const baseline = name === "candles" ? "window 1" : "one message per tick"
    console.log(
      `| ${name} | ${Math.round(x).toLocaleString("en")} | ${Math.round(y).toLocaleString("en")} (${baseline}) | ${(x / y).toFixed(1)}× |`,
    )
  }
})

Effect.runPromise(main.pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
