/**
 * Confirmed-publish benchmark against the real broker (RABBITMQ_URL, default the local one): candles (persistent,
 * to market.ohlcv) and ticks (non-persistent, to market.ticks) through the publisher actor with its default window,
 * against a window of 1 (one confirm round trip per message) in the same run. Median of interleaved rounds;
 * the queues are purged before and after each round.
 */
import amqp from "amqplib"
import { Duration, Effect, Layer, LogLevel, Logger, Option, Redacted } from "effect"
import { candleMessage, type Outbound, Publisher, tickMessage } from "../src/actors/Publisher.js"
import { Supervisor } from "../src/actors/Supervisor.js"
import { OHLCV_QUEUE, TICKS_QUEUE } from "../src/domain/Topology.js"
import { Health } from "../src/layers/Health.js"
import { Rabbit } from "../src/layers/Rabbit.js"
import { sampleCandle, sampleTick } from "../test/support/samples.js"
import { testConfig } from "../test/support/config.js"
import { AppConfig } from "../src/layers/AppConfig.js"

const URL = process.env.RABBITMQ_URL ?? "amqp://guest:guest@127.0.0.1:5672"
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const N = Number(process.env.BENCH_MESSAGES ?? 20_000)
const WINDOW = 512

const messages: Record<"candle" | "tick", Array<Outbound>> = {
  candle: Array.from({ length: N }, (_, i) => candleMessage(sampleCandle(i))),
  tick: Array.from({ length: N }, (_, i) => tickMessage(sampleTick(i))),
}

const purge = async () => {
  const conn = await amqp.connect(URL)
  const ch = await conn.createChannel()
  await ch.purgeQueue(OHLCV_QUEUE).catch(() => undefined)
  await ch.purgeQueue(TICKS_QUEUE).catch(() => undefined)
  await conn.close()
}

/** Messages per second from the first offer until the layer closed, which waits for every confirm. */
const measure = (kind: "candle" | "tick", window: number) =>
  Effect.gen(function* () {
    yield* Effect.promise(purge)
    const layer = Publisher.Default.pipe(
      Layer.provideMerge(Rabbit.Default),
      Layer.provideMerge(Supervisor.Default),
      Layer.provideMerge(Health.Default),
      Layer.provideMerge(
        Layer.succeed(
          AppConfig,
          testConfig({
            rabbitmqUrl: Option.some(Redacted.make(URL)),
            publishWindow: window,
            mailboxCapacity: 4_096,
            shutdownTimeout: Duration.minutes(5),
          }),
        ),
      ),
    )
    let started = 0
    yield* Effect.scoped(
      Effect.gen(function* () {
        const health = yield* Health
        while ((yield* health.report).components.rabbitmq?.state !== "up") yield* Effect.sleep(Duration.millis(10))
        started = performance.now()
        yield* (yield* Publisher).offer(messages[kind])
      }).pipe(Effect.provide(layer)),
    )
    const rate = N / ((performance.now() - started) / 1_000)
    yield* Effect.promise(purge)
    return rate
  })

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = Effect.gen(function* () {
  const results: Record<string, Array<number>> = {}
  for (let r = 0; r < ROUNDS; r++)
    for (const kind of ["candle", "tick"] as const)
      for (const window of [WINDOW, 1]) (results[`${kind} ${window}`] ??= []).push(yield* measure(kind, window))
  console.log(`node ${process.version}, ${N} messages per run, ${ROUNDS} rounds, median confirmed publishes/s`)
  console.log("| messages | window 512 | window 1 (one confirm per message) | ratio |")
  console.log("|---|---:|---:|---:|")
  for (const kind of ["candle", "tick"] as const) {
    const w = median(results[`${kind} ${WINDOW}`]!)
    const one = median(results[`${kind} 1`]!)
    console.log(
      `| ${kind}s | ${Math.round(w).toLocaleString("en")} | ${Math.round(one).toLocaleString("en")} | ${(w / one).toFixed(1)}× |`,
    )
  }
})

Effect.runPromise(main.pipe(Logger.withMinimumLogLevel(LogLevel.Warning)))
