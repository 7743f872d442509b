import { it } from "@effect/vitest"
import amqp from "amqplib"
import { Duration, Effect, Layer, Metric, Option, Redacted, Schedule } from "effect"
import { afterAll, describe, expect } from "vitest"
import { PermanentError, RetryableError, runConsumer } from "../../src/actors/Consumer.js"
import { Supervisor } from "../../src/actors/Supervisor.js"
import { ownQueue, SIGNALS } from "../../src/domain/Topology.js"
import { Health } from "../../src/layers/Health.js"
import * as Metrics from "../../src/layers/Metrics.js"
import { Rabbit } from "../../src/layers/Rabbit.js"
import { Signal } from "../../src/schema/Signal.js"
import { TestConfig } from "../support/config.js"
import { until } from "../support/daemon.js"
import { sampleSignal } from "../support/samples.js"
import { freshVhost } from "../support/rabbit.js"

/** A queue of the test's own, on a routing key of its own, declared as the daemon declares its queues. */
const QUEUE = "ingest.consumer-test"
const DLQ = `${QUEUE}.dlq`
const KEY = "signal.consumer-test"
const DECLARE = ownQueue(QUEUE, [{ exchange: SIGNALS, key: KEY }], "quorum")

// A vhost of its own, so that this file's queues are its alone while other files run beside it.
const vhost = freshVhost("consumer")
afterAll(() => vhost.drop())
const URL = vhost.url

const layer = Rabbit.Default.pipe(
  Layer.provideMerge(Supervisor.Default),
  Layer.provideMerge(Health.Default),
  Layer.provideMerge(TestConfig({ rabbitmqUrl: Option.some(Redacted.make(URL)) })),
)

const outcome = (o: string) =>
  Effect.map(
    Metric.value(Metric.tagged(Metric.tagged(Metrics.consumerMessages, "queue", QUEUE), "outcome", o)),
    (s) => s.count,
  )

const settled = (what: string, f: () => Promise<boolean> | boolean) => Effect.promise(() => until(what, f, 20_000))

describe("the generic consumer, on signals.high_confidence of the real broker", () => {
  it.scopedLive(
    "dead-letters poison with its reason, acks a twice-failing message once, handles a messageId once",
    () =>
      Effect.gen(function* () {
        const conn = yield* Effect.acquireRelease(
          Effect.promise(() => amqp.connect(URL)),
          (c) => Effect.promise(() => c.close()),
        )
        const ch = yield* Effect.promise(() => conn.createConfirmChannel())
        const health = yield* Health
        yield* settled("the broker connection", () =>
          Effect.runPromise(Effect.map(health.report, (r) => r.components.rabbitmq?.state === "up")),
        )
        yield* Effect.promise(async () => {
          for (const q of DECLARE) {
            await ch.assertQueue(q.name, { durable: true, arguments: q.arguments })
            for (const b of q.bindings) await ch.bindQueue(q.name, b.exchange, b.key)
            await ch.purgeQueue(q.name)
          }
        })
        const before = {
          acked: yield* outcome("acked"),
          dup: yield* outcome("duplicate"),
          dead: yield* outcome("dead_lettered"),
        }

        const calls = new Map<string, number>()
        const rabbit = yield* Rabbit
        yield* Effect.forkScoped(
          runConsumer(Option.getOrThrow(rabbit.broker), {
            name: "consumer:test",
            queue: QUEUE,
            declare: DECLARE,
            prefetch: 16,
            // Several at once, so that the two copies of "twice" are in flight together.
            concurrency: 8,
            schema: Signal,
            remember: 1_000,
            retry: Schedule.spaced(Duration.millis(20)).pipe(Schedule.intersect(Schedule.recurs(4))),
            handle: (_s, id) =>
              Effect.suspend((): Effect.Effect<void, RetryableError | PermanentError> => {
                const n = (calls.get(id) ?? 0) + 1
                calls.set(id, n)
                if (id === "flaky" && n <= 2) return Effect.fail(new RetryableError({ reason: "sink unavailable" }))
                if (id === "refused") return Effect.fail(new PermanentError({ reason: "sink refused the row" }))
                return id === "twice" ? Effect.sleep(Duration.millis(100)) : Effect.void
              }),
          }),
        )
        const send = (id: string, body: string) =>
          Effect.promise(
            () =>
              new Promise<void>((resolve, reject) =>
                ch.publish(SIGNALS, KEY, Buffer.from(body), { messageId: id, persistent: true }, (err) =>
                  err ? reject(err) : resolve(),
                ),
              ),
          )
        yield* send("poison", "{not json")
        yield* send("wrong-schema", JSON.stringify({ ...sampleSignal(), signal: "moon" }))
        yield* send("flaky", JSON.stringify(sampleSignal({ symbol: "BTC/USDT" })))
        yield* send("twice", JSON.stringify(sampleSignal({ symbol: "ETH/USDT" })))
        yield* send("twice", JSON.stringify(sampleSignal({ symbol: "ETH/USDT" })))
        yield* send("refused", JSON.stringify(sampleSignal({ symbol: "SOL/USDT" })))

        // The dead-letter copy is confirmed before the original is acked and counted: wait for the counts too.
        yield* settled("every message settled", async () => {
          const q = await ch.checkQueue(QUEUE)
          const dlq = await ch.checkQueue(DLQ)
          const dead = Effect.runSync(outcome("dead_lettered"))
          const acked = Effect.runSync(outcome("acked"))
          return (
            q.messageCount === 0 && dlq.messageCount === 3 && dead === before.dead + 3 && acked === before.acked + 2
          )
        })
        expect(calls.get("flaky")).toBe(3)
        expect(calls.get("twice")).toBe(1)
        expect(calls.has("poison")).toBe(false)
        expect(yield* outcome("acked")).toBe(before.acked + 2)
        expect(yield* outcome("duplicate")).toBe(before.dup + 1)
        expect(yield* outcome("dead_lettered")).toBe(before.dead + 3)

        const dead: Array<amqp.GetMessage> = []
        for (let i = 0; i < 3; i++) {
          const m = yield* Effect.promise(() => ch.get(DLQ, { noAck: true }))
          if (m !== false) dead.push(m)
        }
        const reasons = Object.fromEntries(
          dead.map((m) => [m.properties.messageId, String(m.properties.headers?.["x-death-reason"])]),
        )
        expect(reasons.poison).toContain("invalid")
        expect(reasons["wrong-schema"]).toMatch(/invalid: .*signal/)
        expect(reasons.refused).toBe("PermanentError: sink refused the row")
        // Nothing is left unacked or requeued behind our back.
        yield* Effect.sleep(Duration.millis(300))
        expect((yield* Effect.promise(() => ch.checkQueue(QUEUE))).messageCount).toBe(0)
      }).pipe(Effect.provide(layer)),
    60_000,
  )
})
