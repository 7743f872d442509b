import { it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted, TestClock } from "effect"
import { Redis } from "ioredis"
import { describe, expect } from "vitest"
import { RedisSink } from "../../../src/actors/sinks/redis/RedisSink.js"
import { Health } from "../../../src/layers/Health.js"
import { TestConfig } from "../../support/config.js"
import { freePort, until } from "../../support/daemon.js"
import { startRedis, stopRedis } from "../../support/redis.js"
import { sampleTickWith } from "../../support/samples.js"
import { untilClockWait } from "../../support/wait.js"

describe("Redis quotes, against a real redis-server", () => {
  it.scoped(
    "hashes with a TTL per exchange and symbol (and the primary's plain key), `quotes` conflated to the configured rate, newest wins; an outage blocks nothing and the quotes resume",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(() => freePort())
        let server = yield* Effect.promise(() => startRedis(port))
        yield* Effect.addFinalizer(() => Effect.promise(() => stopRedis(server)))
        const reader = new Redis({ port, retryStrategy: () => 100 })
        reader.on("error", () => undefined)
        const subscriber = new Redis({ port, retryStrategy: () => 100 })
        subscriber.on("error", () => undefined)
        yield* Effect.addFinalizer(() => Effect.sync(() => (reader.disconnect(), subscriber.disconnect())))
        const received: Array<{ exchange: string; symbol: string; last: number; spread_bps: number | null }> = []
        yield* Effect.promise(() => subscriber.subscribe("quotes"))
        subscriber.on("message", (_channel, message: string) => received.push(JSON.parse(message)))

        const context = yield* Layer.build(
          Health.Default.pipe(
            Layer.provideMerge(
              TestConfig({
                redis: Option.some({
                  url: Redacted.make(`redis://127.0.0.1:${port}`),
                  quotesPerSecond: 5,
                  primaryExchange: "binance",
                }),
              }),
            ),
          ),
        )
        const sink = (yield* RedisSink.make.pipe(Effect.provide(context)))!
        const health = yield* Effect.provide(Health, context)
        yield* Effect.promise(() => until("the sink's connection", () => reader.ping().then(() => true)))

        // Ten intervals of 200 ms (5 a second); in each, 20 ticks of each of two symbols.
        let price = 30_000
        for (let step = 1; step <= 10; step++) {
          const ticks = Array.from({ length: 20 }, (_, i) =>
            ["BTC/USDT", "ETH/USDT"].map((symbol) =>
              sampleTickWith(step * 100 + i, { symbol, price: ++price, exchangeTs: 1_700_000_000_000 + price }),
            ),
          ).flat()
          yield* sink.ticks!(ticks)
          // The publisher sleeps on the TestClock again only once its last pipeline is answered, which can be after
          // the subscriber has the messages: moving the clock before then would move it past no sleep at all.
          yield* untilClockWait(`the publisher's wait before interval ${step}`, 200)
          yield* TestClock.adjust(Duration.millis(200))
          yield* Effect.promise(() => until(`interval ${step}'s quotes`, () => received.length >= 2 * step))
          // Exactly one message per symbol per interval, each the interval's newest tick of its symbol.
          expect(
            received
              .slice(-2)
              .map((m) => [m.symbol, m.last])
              .sort(),
          ).toEqual(
            ["BTC/USDT", "ETH/USDT"]
              .map((s) => [s, ticks.filter((t) => t.trade.symbol === s).at(-1)!.trade.price])
              .sort(),
          )
        }
        expect(received).toHaveLength(20)
        const hash = yield* Effect.promise(() => reader.hgetall("quote:binance:BTC/USDT"))
        expect(Number(hash.last)).toBe(received.filter((m) => m.symbol === "BTC/USDT").at(-1)!.last)
        expect(Object.keys(hash).sort()).toEqual(["ask", "bid", "last", "timestamp", "volume"])
        expect(yield* Effect.promise(() => reader.hgetall("quote:BTC/USDT"))).toEqual(hash)
        const ttl = yield* Effect.promise(() => reader.ttl("quote:binance:ETH/USDT"))
        expect(ttl).toBeGreaterThan(50)
        expect(ttl).toBeLessThanOrEqual(60)

        // Redis stops: taking ticks never waits, the sink reports itself down, and the newest quote goes out once
        // Redis is back.
        yield* Effect.promise(() => stopRedis(server))
        for (let i = 0; i < 5; i++) {
          yield* sink.ticks!([sampleTickWith(9_000 + i, { symbol: "BTC/USDT", price: 40_000 + i })])
          yield* TestClock.adjust(Duration.millis(200))
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 20)))
        }
        yield* Effect.promise(() =>
          until("the sink down", () =>
            Effect.runPromise(Effect.map(health.report, (r) => r.components["sink:redis"]?.state === "down")),
          ),
        )
        server = yield* Effect.promise(() => startRedis(port))
        yield* Effect.promise(() =>
          until("the reader back", () =>
            reader.ping().then(
              () => true,
              () => false,
            ),
          ),
        )
        for (let i = 0; i < 100; i++) {
          yield* TestClock.adjust(Duration.millis(200))
          const last = yield* Effect.promise(() => reader.hget("quote:binance:BTC/USDT", "last"))
          if (last === "40004") break
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
        }
        expect(yield* Effect.promise(() => reader.hget("quote:binance:BTC/USDT", "last"))).toBe("40004")
        expect(yield* Effect.map(health.report, (r) => r.components["sink:redis"]?.state)).toBe("up")
      }),
    60_000,
  )
})
