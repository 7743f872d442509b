import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import amqp from "amqplib"
import { Duration, Effect, Layer, Logger, Metric, Option, Redacted } from "effect"
import { describe, expect } from "vitest"
import { RabbitSink } from "../../src/actors/sinks/rabbitmq/RabbitSink.js"
import { Supervisor } from "../../src/actors/Supervisor.js"
import {
  DLX,
  EXCHANGES,
  MARKET,
  NOTIFICATIONS,
  OHLCV_QUEUE,
  seedQueues,
  SIGNALS,
  TICKS_QUEUE,
} from "../../src/domain/Topology.js"
import { Health } from "../../src/layers/Health.js"
import * as Metrics from "../../src/layers/Metrics.js"
import { declareTopology, Rabbit } from "../../src/layers/Rabbit.js"
import { tickOf } from "../../src/domain/Enrichment.js"
import { sampleCandle, sampleTick, sampleTickWith } from "../support/samples.js"
import { TestConfig } from "../support/config.js"
import { FAULT_BROKER, freshVhost, seedSetupTopology } from "../support/rabbit.js"

const URL = FAULT_BROKER.url

const ctl = FAULT_BROKER.ctl
const listing = (what: string, ...columns: Array<string>) =>
  JSON.parse(ctl(what, ...columns, "--formatter", "json")) as Array<Record<string, unknown>>

/** The broker's own view of our part of the topology. */
const brokerTopology = () => {
  const names = new Set([...EXCHANGES.map((x) => x.name), ...seedQueues().map((q) => q.name)])
  return {
    exchanges: listing("list_exchanges", "name", "type", "durable").filter((x) => names.has(x.name as string)),
    // rabbitmqctl lists arguments as [name, type, value] triples.
    queues: listing("list_queues", "name", "durable", "arguments")
      .filter((q) => names.has(q.name as string))
      .map((q): Record<string, unknown> => ({
        ...q,
        arguments: Object.fromEntries((q.arguments as Array<[string, string, unknown]>).map(([k, , v]) => [k, v])),
      })),
    bindings: listing("list_bindings", "source_name", "destination_name", "routing_key").filter(
      (b) => names.has(b.destination_name as string) && b.source_name !== "",
    ),
  }
}

const withChannel = <A>(f: (ch: amqp.Channel) => Promise<A>) =>
  Effect.promise(async () => {
    const conn = await amqp.connect(URL)
    try {
      const ch = await conn.createChannel()
      return await f(ch)
    } finally {
      await conn.close()
    }
  })

const deleteTopology = withChannel(async (ch) => {
  for (const q of seedQueues()) await ch.deleteQueue(q.name)
  for (const x of EXCHANGES) await ch.deleteExchange(x.name)
})

const layer = (overrides: Parameters<typeof TestConfig>[0] = {}) =>
  Rabbit.Default.pipe(
    Layer.provideMerge(Supervisor.Default),
    Layer.provideMerge(Health.Default),
    Layer.provideMerge(
      TestConfig({
        rabbitmqUrl: Option.some(Redacted.make(URL)),
        dataDir: mkdtempSync(join(tmpdir(), "rabbit-sink-")),
        shutdownTimeout: Duration.seconds(60),
        ...overrides,
      }),
    ),
  )

/** The market sink; the test's scope closing waits until the broker confirmed everything it was given. */
const marketSink = Effect.flatMap(RabbitSink.make, (sink) =>
  sink === undefined ? Effect.die("no RabbitMQ sink although RABBITMQ_URL is set") : Effect.succeed(sink),
)

/** Waits (live clock) until the connection is up and the topology declared. */
const rabbitUp = Effect.gen(function* () {
  const health = yield* Health
  for (let i = 0; i < 1_000; i++) {
    const report = yield* health.report
    if (report.components.rabbitmq?.state === "up") return
    yield* Effect.sleep(Duration.millis(20))
  }
  throw new Error("RabbitMQ did not come up within 20 s")
})

const counterOf = (m: Metric.Metric.Counter<number>, kind: string) =>
  Effect.map(Metric.value(Metric.tagged(m, "kind", kind)), (s) => s.count)

/** Drains a queue, returning the messages it held. */
const drain = (queue: string) =>
  withChannel(async (ch) => {
    const out: Array<amqp.GetMessage> = []
    for (let m = await ch.get(queue, { noAck: true }); m !== false; m = await ch.get(queue, { noAck: true }))
      out.push(m)
    return out
  })

describe("RabbitMQ, against the real broker", () => {
  it.live(
    "declares the whole seed topology at start, and a second start changes nothing",
    () =>
      Effect.gen(function* () {
        yield* deleteTopology
        yield* Effect.scoped(Effect.provide(rabbitUp, layer()))
        const first = brokerTopology()
        expect(first.exchanges).toEqual(
          expect.arrayContaining([
            { name: MARKET, type: "topic", durable: true },
            { name: SIGNALS, type: "direct", durable: true },
            { name: NOTIFICATIONS, type: "fanout", durable: true },
            { name: DLX, type: "direct", durable: true },
          ]),
        )
        const queue = (name: string) => first.queues.find((q) => q.name === name)
        expect(queue("market.ticks")).toEqual({
          name: "market.ticks",
          durable: true,
          arguments: {
            "x-dead-letter-exchange": DLX,
            "x-dead-letter-routing-key": "market.ticks.dlq",
            "x-max-length": 100000,
            "x-message-ttl": 60000,
            "x-overflow": "reject-publish",
          },
        })
        expect(queue("market.ohlcv")?.arguments).toEqual({
          "x-dead-letter-exchange": DLX,
          "x-dead-letter-routing-key": "market.ohlcv.dlq",
          "x-message-ttl": 300000,
        })
        expect(queue("signals.high_confidence")?.arguments).toEqual({
          "x-dead-letter-exchange": DLX,
          "x-dead-letter-routing-key": "signals.dlq",
          "x-max-priority": 10,
        })
        for (const dlq of ["market.ticks.dlq", "market.ohlcv.dlq", "signals.dlq"])
          expect(queue(dlq)?.durable).toBe(true)
        expect(first.bindings).toEqual(
          expect.arrayContaining([
            { source_name: MARKET, destination_name: "market.ticks", routing_key: "tick.#" },
            { source_name: MARKET, destination_name: "market.ohlcv", routing_key: "ohlcv.#" },
            { source_name: SIGNALS, destination_name: "signals.high_confidence", routing_key: "signal.high" },
            { source_name: DLX, destination_name: "market.ticks.dlq", routing_key: "market.ticks.dlq" },
            { source_name: DLX, destination_name: "market.ohlcv.dlq", routing_key: "market.ohlcv.dlq" },
            { source_name: DLX, destination_name: "signals.dlq", routing_key: "signals.dlq" },
          ]),
        )
        yield* Effect.scoped(Effect.provide(rabbitUp, layer()))
        expect(brokerTopology()).toEqual(first)
      }),
    120_000,
  )

  it.live(
    "agrees with the seed's own declarations, made first by a plain amqplib script in a fresh vhost",
    () =>
      Effect.gen(function* () {
        const { url, drop } = freshVhost("seed-first", FAULT_BROKER)
        yield* Effect.promise(() => seedSetupTopology(url))
        const conflicts = yield* Effect.acquireUseRelease(
          Effect.promise(() => amqp.connect(url)),
          (model) => declareTopology(model),
          (model) => Effect.promise(() => model.close()),
        )
        expect(conflicts).toEqual([])
        drop()
      }),
    60_000,
  )

  it.live(
    "a queue declared elsewhere with other arguments: one line per connect naming it and both argument sets; candles are still published and routed",
    () =>
      Effect.gen(function* () {
        const { url, drop } = freshVhost("conflict", FAULT_BROKER)
        // The daemon's earlier declaration of market.ohlcv (dead letters under the queue's own name).
        yield* Effect.promise(async () => {
          const conn = await amqp.connect(url)
          const ch = await conn.createChannel()
          await ch.assertQueue(OHLCV_QUEUE, {
            durable: true,
            arguments: {
              "x-dead-letter-exchange": DLX,
              "x-dead-letter-routing-key": OHLCV_QUEUE,
              "x-message-ttl": 300000,
            },
          })
          await conn.close()
        })
        const lines: Array<string> = []
        const capture = Logger.replace(
          Logger.defaultLogger,
          Logger.make(({ message }) => void lines.push(String(Array.isArray(message) ? message[0] : message))),
        )
        yield* Effect.gen(function* () {
          yield* rabbitUp
          const sink = yield* marketSink
          yield* sink.candles([sampleCandle(0), sampleCandle(1)])
        }).pipe(
          Effect.scoped,
          Effect.provide(layer({ rabbitmqUrl: Option.some(Redacted.make(url)) })),
          Effect.provide(capture),
        )
        const conflictLines = lines.filter((l) => l.includes("other arguments"))
        expect(conflictLines).toHaveLength(1)
        expect(conflictLines[0]).toContain(
          `${OHLCV_QUEUE}: wanted {"x-dead-letter-exchange":"neuraltrade.dlx","x-dead-letter-routing-key":"market.ohlcv.dlq"`,
        )
        expect(conflictLines[0]).toContain("PRECONDITION_FAILED")
        expect(conflictLines[0]).toContain("inequivalent arg 'x-dead-letter-routing-key'")
        const got = yield* Effect.promise(async () => {
          const conn = await amqp.connect(url)
          const ch = await conn.createChannel()
          const out: Array<string | undefined> = []
          for (
            let m = await ch.get(OHLCV_QUEUE, { noAck: true });
            m !== false;
            m = await ch.get(OHLCV_QUEUE, { noAck: true })
          )
            out.push(m.properties.messageId as string | undefined)
          await conn.close()
          return out
        })
        expect(got).toHaveLength(2)
        drop()
      }),
    60_000,
  )

  it.live(
    "publishes candles with confirms: persistent, deterministic messageId, routed by exchange, symbol and timeframe",
    () =>
      Effect.gen(function* () {
        yield* drain(OHLCV_QUEUE)
        const n = 2_000
        yield* Effect.gen(function* () {
          yield* rabbitUp
          const sink = yield* marketSink
          yield* sink.candles(Array.from({ length: n }, (_, i) => sampleCandle(i)))
        }).pipe(Effect.scoped, Effect.provide(layer({ publishWindow: 64 })))
        // Closing the sink waited for every confirm, so all of them are in the queue now.
        const got = yield* drain(OHLCV_QUEUE)
        expect(got).toHaveLength(n)
        expect(got[0]!.fields.routingKey).toBe("ohlcv.binance.BTC_USDT.1m")
        expect(got[0]!.properties).toMatchObject({
          messageId: "binance:BTC/USDT:1m:1700000000000:0",
          deliveryMode: 2,
          contentType: "application/json",
        })
        expect(JSON.parse(got[5]!.content.toString())).toEqual(sampleCandle(5))
        expect(new Set(got.map((m) => m.properties.messageId)).size).toBe(n)
      }),
    120_000,
  )

  it.live(
    "loses nothing when the broker drops every connection mid-stream: unconfirmed messages are republished",
    () =>
      Effect.gen(function* () {
        yield* drain(OHLCV_QUEUE)
        const n = 20_000
        yield* Effect.gen(function* () {
          yield* rabbitUp
          const sink = yield* marketSink
          // Taken at once into the sink's buffers, then published a window at a time.
          yield* sink.candles(Array.from({ length: n }, (_, i) => sampleCandle(i)))
          yield* Effect.sleep(Duration.millis(100))
          ctl("close_all_connections", "fault test")
          yield* Effect.sleep(Duration.millis(300))
          ctl("close_all_connections", "fault test again")
        }).pipe(Effect.scoped, Effect.provide(layer({ publishWindow: 256 })))
        const ids = (yield* drain(OHLCV_QUEUE)).map((m) => m.properties.messageId as string)
        expect(ids.length).toBeGreaterThanOrEqual(n)
        expect(new Set(ids).size).toBe(n)
      }),
    120_000,
  )

  it.live(
    "a full market.ticks nacks publishes: they wait in the sink's own buffer and are retried, not lost, while offers never wait",
    () =>
      Effect.gen(function* () {
        // Fill the queue to its x-max-length of 100,000 (the messages expire after its 60 s TTL).
        yield* withChannel((ch) => ch.purgeQueue(TICKS_QUEUE))
        yield* Effect.promise(async () => {
          const conn = await amqp.connect(URL)
          const ch = await conn.createConfirmChannel()
          const filler = Buffer.from("{}")
          for (let i = 0; i < 100_000; i++) ch.publish(MARKET, "tick.fill.X_Y", filler, { persistent: false })
          await ch.waitForConfirms()
          await conn.close()
        })
        const nackedBefore = yield* counterOf(Metrics.publishNacked, "tick")
        const publishedBefore = yield* counterOf(Metrics.published, "tick")
        const n = 500
        yield* Effect.gen(function* () {
          yield* rabbitUp
          const sink = yield* marketSink
          // Isolation: the refusals stay inside the sink, whose offer returns at once.
          yield* sink.ticks(Array.from({ length: n }, (_, i) => sampleTick(i))).pipe(Effect.timeout("1 second"))
          yield* Effect.sleep(Duration.seconds(2))
          expect(yield* counterOf(Metrics.publishNacked, "tick")).toBeGreaterThan(nackedBefore)
          expect(yield* counterOf(Metrics.published, "tick")).toBe(publishedBefore)
          expect(sink.status().diskRecords).toBe(n)
          // A consumer drains the queue: publishing resumes and everything goes through.
          yield* withChannel((ch) => ch.purgeQueue(TICKS_QUEUE))
        }).pipe(
          Effect.scoped,
          Effect.provide(layer({ publishWindow: 64, tickBatch: { max: 1, wait: Duration.millis(10) } })),
        )
        expect(yield* counterOf(Metrics.published, "tick")).toBe(publishedBefore + n)
        const ids = (yield* drain(TICKS_QUEUE)).map((m) => m.properties.messageId as string)
        expect(new Set(ids)).toEqual(new Set(Array.from({ length: n }, (_, i) => `binance:BTC/USDT:t${i}`)))
      }),
    120_000,
  )

  it.live(
    "batches ticks per symbol: at most TICK_BATCH_MAX a message, in trade order, on the symbol's routing key",
    () =>
      Effect.gen(function* () {
        yield* withChannel((ch) => ch.purgeQueue(TICKS_QUEUE))
        const eth = (i: number) => sampleTickWith(i, { symbol: "ETH/USDT" })
        const ticks = Array.from({ length: 250 }, (_, i) => (i % 5 === 0 ? eth(i) : sampleTick(i)))
        yield* Effect.gen(function* () {
          yield* rabbitUp
          const sink = yield* marketSink
          yield* sink.ticks(ticks)
        }).pipe(Effect.scoped, Effect.provide(layer({ tickBatch: { max: 100, wait: Duration.millis(200) } })))
        const got = yield* drain(TICKS_QUEUE)
        const bodies = got.map(
          (m) => JSON.parse(m.content.toString()) as { symbol: string; ticks: Array<{ tradeId: string }> },
        )
        expect(bodies.map((b) => [b.symbol, b.ticks.length])).toEqual([
          ["BTC/USDT", 100],
          ["BTC/USDT", 100],
          ["ETH/USDT", 50],
        ])
        expect(got.map((m) => m.fields.routingKey)).toEqual([
          "tick.binance.BTC_USDT",
          "tick.binance.BTC_USDT",
          "tick.binance.ETH_USDT",
        ])
        expect(got[0]!.properties.messageId).toBe("binance:BTC/USDT:t1..t124")
        expect(bodies.flatMap((b) => b.ticks.map((t) => t.tradeId))).toEqual([
          ...ticks.filter((t) => t.trade.symbol === "BTC/USDT").map((t) => t.trade.tradeId),
          ...ticks.filter((t) => t.trade.symbol === "ETH/USDT").map((t) => t.trade.tradeId),
        ])
        expect(bodies[2]!.ticks[0]).toEqual({ ...tickOf(eth(0)), tradeId: "t0" })
      }),
    120_000,
  )
})
