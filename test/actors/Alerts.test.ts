import { it } from "@effect/vitest"
import amqp, { type ConsumeMessage } from "amqplib"
import { Redis } from "ioredis"
import { Context, Duration, Effect, Layer, Mailbox, Option, Redacted, TestClock } from "effect"
import { afterAll, describe, expect } from "vitest"
import type { AggregatorMessage } from "../../src/actors/aggregation/Aggregator.js"
import { Aggregators } from "../../src/actors/aggregation/Aggregators.js"
import { Alerts } from "../../src/actors/Alerts.js"
import { Sinks } from "../../src/actors/Sinks.js"
import { RedisSink } from "../../src/actors/sinks/redis/RedisSink.js"
import { Supervisor } from "../../src/actors/Supervisor.js"
import type { Notification } from "../../src/domain/Incidents.js"
import { NOTIFICATIONS } from "../../src/domain/Topology.js"
import { Health } from "../../src/layers/Health.js"
import { declareTopology, Rabbit } from "../../src/layers/Rabbit.js"
import { TestConfig, testFeed, testPort } from "../support/config.js"
import { freePort, until } from "../support/daemon.js"
import { startRedis, stopRedis } from "../support/redis.js"
import { freshVhost } from "../support/rabbit.js"

// A vhost of its own, so that this file's queues are its alone while other files run beside it.
const vhost = freshVhost("alerts")
afterAll(() => vhost.drop())
const URL = vhost.url
const SYMBOLS = ["BTC/USDT", "ETH/USDT"]

describe("the alerts actor alone, on the TestClock, publishing to the real broker and a real Redis", () => {
  it.scoped(
    "a symbol silent past ALERT_SYMBOL_SILENT_MS raises exactly one warning on neuraltrade.notifications and Redis `alerts`, and one resolution when it trades again",
    () =>
      Effect.gen(function* () {
        const conn = yield* Effect.acquireRelease(
          Effect.promise(() => amqp.connect(URL)),
          (c) => Effect.promise(() => c.close()),
        )
        yield* declareTopology(conn).pipe(Effect.orDie)
        const ch = yield* Effect.promise(() => conn.createChannel())
        const received: Array<ConsumeMessage> = []
        const q = yield* Effect.promise(() => ch.assertQueue("", { exclusive: true, autoDelete: true }))
        yield* Effect.promise(() => ch.bindQueue(q.queue, NOTIFICATIONS, ""))
        yield* Effect.promise(() => ch.consume(q.queue, (m) => m && received.push(m), { noAck: true }))

        const redisPort = yield* Effect.promise(() => freePort())
        const redis = yield* Effect.promise(() => startRedis(redisPort))
        yield* Effect.addFinalizer(() => Effect.promise(() => stopRedis(redis)))
        const subscriber = new Redis({ port: redisPort })
        yield* Effect.addFinalizer(() => Effect.sync(() => subscriber.disconnect()))
        const onRedis: Array<Notification> = []
        yield* Effect.promise(() => subscriber.subscribe("alerts"))
        subscriber.on("message", (_channel, message: string) => onRedis.push(JSON.parse(message) as Notification))

        const routes = new Map<string, Mailbox.Mailbox<AggregatorMessage>>()
        for (const s of SYMBOLS) routes.set(s, yield* Mailbox.make<AggregatorMessage>())
        const { port } = testPort(SYMBOLS, routes)
        const stats = port.stats
        const feed = testFeed("binance", SYMBOLS, "ws://127.0.0.1:1")
        const base = Layer.mergeAll(
          TestConfig({
            feeds: [feed],
            rabbitmqUrl: Option.some(Redacted.make(URL)),
            alerts: { symbolSilentMs: 300_000, allSilentMs: 120_000, gapUnfilledMs: 60_000 },
            redis: Option.some({
              url: Redacted.make(`redis://127.0.0.1:${redisPort}`),
              quotesPerSecond: 4,
              primaryExchange: "binance",
            }),
          }),
          Health.Default,
          Layer.succeed(
            Aggregators,
            Aggregators.make({
              port: () => port,
              ports: new Map([["binance", port]]),
              openCandles: () => [],
              attach: () => Effect.void,
            }),
          ),
        )
        // The configured sinks are the real Redis sink alone.
        const sinksLive = Layer.scoped(
          Sinks,
          Effect.map(RedisSink.make, (sink) =>
            Sinks.make({
              sinks: [sink!],
              alerts: sink!.alerts!,
              status: () => [],
              drained: () => Effect.succeed(true),
            }),
          ),
        )
        const layer = Alerts.Default.pipe(
          Layer.provideMerge(sinksLive),
          Layer.provideMerge(Rabbit.Default),
          Layer.provideMerge(Supervisor.Default),
          Layer.provideMerge(base),
        )
        const context = yield* Layer.build(layer)
        const alerts = Context.get(context, Alerts)
        const health = Context.get(context, Health)
        yield* Effect.promise(() =>
          until("the broker connection", () =>
            Effect.runPromise(Effect.map(health.report, (r) => r.components["rabbitmq"]?.state === "up")),
          ),
        )

        /** One second of clock time, BTC trading throughout and ETH while `eth` says so. */
        const second = (eth: boolean) =>
          Effect.gen(function* () {
            yield* TestClock.adjust(Duration.seconds(1))
            const now = yield* TestClock.currentTimeMillis
            stats.trade("BTC/USDT", now, now)
            if (eth) stats.trade("ETH/USDT", now, now)
            for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
          })
        const openNow = Effect.map(alerts.open, (xs) => xs.map((n) => `${n.rule} ${n.symbol ?? ""}`))

        // ETH trades for a minute, then stops; the warning is due 300 s after its last trade, at 360 s.
        for (let t = 1; t <= 60; t++) yield* second(true)
        for (let t = 61; t <= 358; t++) yield* second(false)
        expect(yield* openNow).toEqual([])
        for (let t = 359; t <= 361; t++) yield* second(false)
        expect(yield* openNow).toEqual(["symbol_silent ETH/USDT"])
        // Silence going on is the same incident: nothing more is raised.
        for (let t = 362; t <= 600; t++) yield* second(false)
        expect(yield* openNow).toEqual(["symbol_silent ETH/USDT"])
        yield* second(true)
        yield* second(true)
        expect(yield* openNow).toEqual([])

        yield* Effect.promise(() => until("two notifications delivered", () => received.length >= 2, 10_000))
        // A check that no third one follows: real time can only hide a stray notification here, never fail a run.
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 500)))
        const notes = received.map((m) => JSON.parse(m.content.toString()) as Notification)
        expect(notes.map((n) => [n.rule, n.symbol, n.state, n.severity])).toEqual([
          ["symbol_silent", "ETH/USDT", "open", "warning"],
          ["symbol_silent", "ETH/USDT", "resolved", "warning"],
        ])
        expect(notes[0]!.id).toBe(notes[1]!.id)
        expect(notes[0]!.since).toBe(new Date(360_000).toISOString())
        // ETH traded again at 601 s, just after that second's check: the next check, at 602 s, resolves it.
        expect(notes[1]!.at).toBe(new Date(602_000).toISOString())
        expect(received.map((m) => m.properties.messageId)).toEqual([
          `${notes[0]!.id}:open`,
          `${notes[0]!.id}:resolved`,
        ])
        expect(received.every((m) => m.properties.contentType === "application/json")).toBe(true)
        // The same two notifications on Redis `alerts`, once each.
        yield* TestClock.adjust(Duration.seconds(1))
        yield* Effect.promise(() => until("two alerts on Redis", () => onRedis.length >= 2, 10_000))
        expect(onRedis).toEqual(notes)
      }),
    60_000,
  )
})
