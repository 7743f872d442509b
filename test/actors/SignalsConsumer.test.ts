import type { ChildProcess } from "node:child_process"
import { execFileSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import amqp from "amqplib"
import { Duration, Effect, Layer, Metric, Option, Redacted } from "effect"
import { afterAll, describe, expect } from "vitest"
import { SignalsConsumerLive } from "../../src/actors/SignalsConsumer.js"
import { Supervisor } from "../../src/actors/Supervisor.js"
import { INGEST_SIGNALS_QUEUE, ownQueue, SIGNALS, SIGNALS_QUEUE } from "../../src/domain/Topology.js"
import { Health } from "../../src/layers/Health.js"
import { Influx } from "../../src/layers/Influx.js"
import * as Metrics from "../../src/layers/Metrics.js"
import { Rabbit, declareTopology } from "../../src/layers/Rabbit.js"
import { TestConfig } from "../support/config.js"
import { freePort, until } from "../support/daemon.js"
import { sampleSignal, seedSignal, seedSignalPoint } from "../support/samples.js"
import { engineUp, INFLUX, influxQuery, spawnInfluxd, startInfluxProxy } from "../support/influx.js"
import { freshVhost } from "../support/rabbit.js"

// A vhost of its own, so that this file's queues are its alone while other files run beside it.
const vhost = freshVhost("signals")
afterAll(() => vhost.drop())
const RABBIT = vhost.url

const unacked = () => {
  const rows = JSON.parse(
    execFileSync(
      "rabbitmqctl",
      ["-q", "list_queues", "-p", vhost.vhost, "name", "messages_unacknowledged", "--formatter", "json"],
      {
        encoding: "utf8",
      },
    ),
  ) as Array<{ name: string; messages_unacknowledged: number }>
  return rows.find((r) => r.name === INGEST_SIGNALS_QUEUE)?.messages_unacknowledged ?? 0
}

const acked = Effect.map(
  Metric.value(
    Metric.tagged(Metric.tagged(Metrics.consumerMessages, "queue", INGEST_SIGNALS_QUEUE), "outcome", "acked"),
  ),
  (s) => s.count,
)

const wait = (what: string, f: () => boolean | Promise<boolean>, ms = 30_000) =>
  Effect.promise(() => until(what, f, ms))

describe("the signals consumer, from the real broker into the real engine", () => {
  it.scopedLive(
    "acks a signal only after InfluxDB has its point, holding it unacked through an engine outage",
    () =>
      Effect.gen(function* () {
        const dir = mkdtempSync(join(tmpdir(), "influxd-signals-"))
        const enginePort = yield* Effect.promise(freePort)
        const engineOpts = { dir, httpPort: enginePort, rpcPort: yield* Effect.promise(freePort) }
        const engine = `http://127.0.0.1:${enginePort}`
        let influxd: ChildProcess = spawnInfluxd(engineOpts)
        yield* Effect.addFinalizer(() => Effect.sync(() => influxd.kill("SIGKILL")))
        const proxyPort = yield* Effect.promise(freePort)
        const proxy = yield* Effect.promise(() =>
          startInfluxProxy({ port: proxyPort, upstream: engine, token: INFLUX.token }),
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => proxy.close()))
        yield* wait("influxd", () => engineUp(engine))
        yield* Effect.promise(() => influxQuery(engine, "", 'CREATE DATABASE "signals"'))

        const conn = yield* Effect.acquireRelease(
          Effect.promise(() => amqp.connect(RABBIT)),
          (c) => Effect.promise(() => c.close()),
        )
        const ch = yield* Effect.promise(() => conn.createConfirmChannel())
        // Declared first: a purge of a queue that does not exist yet closes the channel with an unhandled error.
        yield* declareTopology(conn).pipe(Effect.orDie)
        yield* Effect.promise(async () => {
          const keys = ["signal.new", "signal.high"].map((key) => ({ exchange: SIGNALS, key }))
          for (const q of ownQueue(INGEST_SIGNALS_QUEUE, keys, "quorum")) {
            // Bound here too: the signals published below must not race the consumer's own declaration.
            await ch.assertQueue(q.name, { durable: true, arguments: q.arguments })
            for (const b of q.bindings) await ch.bindQueue(q.name, b.exchange, b.key)
            await ch.purgeQueue(q.name)
          }
          await ch.purgeQueue(SIGNALS_QUEUE)
        })
        const send = (id: string, body: unknown, key = "signal.high") =>
          Effect.promise(
            () =>
              new Promise<void>((resolve, reject) =>
                ch.publish(
                  SIGNALS,
                  key,
                  Buffer.from(JSON.stringify(body)),
                  { messageId: id, persistent: true },
                  (err) => (err ? reject(err) : resolve()),
                ),
              ),
          )
        const points = () =>
          influxQuery(engine, "signals", "SELECT confidence, model_version FROM ml_signals").catch(() => [])

        const layer = SignalsConsumerLive.pipe(
          Layer.provideMerge(Influx.Default),
          Layer.provideMerge(Rabbit.Default),
          Layer.provideMerge(Supervisor.Default),
          Layer.provideMerge(Health.Default),
          Layer.provideMerge(
            TestConfig({
              rabbitmqUrl: Option.some(Redacted.make(RABBIT)),
              dataDir: dir,
              influx: Option.some({
                url: `http://127.0.0.1:${proxyPort}`,
                token: Option.some(Redacted.make(INFLUX.token)),
                org: INFLUX.org,
                bucket: "signals",
                batchLines: 5_000,
                flushInterval: Duration.millis(100),
                timeout: Duration.seconds(5),
                gzip: false,
                deadLetterMaxBytes: 1024 * 1024,
              }),
            }),
          ),
        )
        yield* Effect.gen(function* () {
          const before = yield* acked
          yield* send("sig-1", sampleSignal({ model_version: "v2.0.0", timestamp: 1_700_000_000_000 }))
          yield* wait("the first signal stored and acked", async () => (await points()).length === 1 && unacked() === 0)
          expect(yield* acked).toBe(before + 1)

          // The engine goes away: the next signal is taken but stays unacked, retried by the writer.
          influxd.kill("SIGTERM")
          yield* Effect.promise(() => new Promise((r) => influxd.once("exit", r)))
          yield* send("sig-2", sampleSignal({ model_version: "v2.0.0", timestamp: 1_700_000_060_000 }))
          yield* wait("the second signal delivered to the consumer", () => unacked() === 1)
          yield* Effect.sleep(Duration.seconds(3))
          expect(unacked()).toBe(1)
          expect(yield* acked).toBe(before + 1)

          influxd = spawnInfluxd(engineOpts)
          yield* wait(
            "the second signal stored and acked",
            async () => (await points()).length === 2 && unacked() === 0,
          )
          expect(yield* acked).toBe(before + 2)
          expect((yield* Effect.promise(points)).map((p) => p.model_version)).toEqual(["v2.0.0", "v2.0.0"])

          // The seed's MLSignal, on `signal.new` (which signals.high_confidence does not take): stored with every field.
          yield* send("sig-3", seedSignal("seed-1"), "signal.new")
          yield* wait("the seed-form signal stored and acked", async () => (await points()).length === 3)
          const seed = yield* Effect.promise(() =>
            influxQuery(engine, "signals", "SELECT * FROM ml_signals WHERE model_version = 'seed-1'"),
          )
          expect(seed).toHaveLength(1)
          expect(seed[0]).toMatchObject(seedSignalPoint("seed-1"))
        }).pipe(Effect.provide(layer))
        expect((yield* Effect.promise(() => ch.checkQueue(INGEST_SIGNALS_QUEUE))).messageCount).toBe(0)
        // The Execution Service's queue kept its copy of each: the daemon consumes only its own.
        expect((yield* Effect.promise(() => ch.checkQueue(SIGNALS_QUEUE))).messageCount).toBe(2)
      }),
    90_000,
  )
})
