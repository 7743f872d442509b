import { it } from "@effect/vitest"
import { Chunk, Effect, Layer, Mailbox, Metric, TestClock } from "effect"
import { describe, expect } from "vitest"
import type { AggregatorMessage } from "../../src/actors/Aggregator.js"
import { Aggregators } from "../../src/actors/Aggregators.js"
import { runBinanceFeed } from "../../src/actors/BinanceFeed.js"
import { Watermark } from "../../src/domain/Watermark.js"
import { Health } from "../../src/layers/Health.js"
import * as Metrics from "../../src/layers/Metrics.js"
import { BinanceServer } from "../support/BinanceServer.js"
import { TestConfig } from "../support/config.js"
import { waitUntil } from "../support/wait.js"

const tradeFrame = (id: number, symbol = "BTCUSDT") =>
  `{"stream":"${symbol.toLowerCase()}@trade","data":{"e":"trade","E":${1_700_000_000_000 + id},"s":"${symbol}","t":${id},"p":"${(30_000 + (id % 100) / 10).toFixed(2)}","q":"0.01000000","T":${1_700_000_000_000 + id},"m":${id % 2 === 0}}}`

const counter = (m: Metric.Metric.Counter<number>, ...tags: Array<[string, string]>) =>
  Effect.map(Metric.value(tags.reduce((acc, [k, v]) => Metric.tagged(acc, k, v), m)), (s) => s.count)

/** The feed actor wired to one stand-in aggregator mailbox per symbol, against a local Binance server. */
const setup = (capacity: number) =>
  Effect.gen(function* () {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => BinanceServer.start()),
      (s) => Effect.promise(() => s.close()),
    )
    const route = yield* Mailbox.make<AggregatorMessage>({ capacity, strategy: "suspend" })
    const port = { watermark: new Watermark(), routes: new Map([["BTC/USDT", route]]) }
    const feed = { exchange: "binance" as const, symbols: ["BTC/USDT"], wsUrl: server.url }
    const layer = Layer.mergeAll(
      TestConfig({ feeds: [feed], mailboxCapacity: 64 }),
      Health.Default,
      Layer.succeed(Aggregators, Aggregators.make({ port: () => port })),
    )
    yield* Effect.forkScoped(runBinanceFeed(feed).pipe(Effect.provide(layer)))
    // Connect, subscribe, then let the subscribe pacing (a TestClock sleep) pass.
    yield* waitUntil("subscription", () => server.controlMessages.length > 0)
    yield* TestClock.adjust("1 second")
    const trades = (): Effect.Effect<Array<AggregatorMessage>> =>
      Effect.map(route.takeAll, ([chunk]) => Chunk.toArray(chunk).filter((m) => m._tag === "Trade"))
    return { server, route, trades }
  })

describe("Binance feed actor", () => {
  it.scoped("pauses its socket when the aggregator mailbox is full, and drops nothing", () =>
    Effect.gen(function* () {
      const pausesBefore = yield* counter(Metrics.feedPaused, ["exchange", "binance"])
      const { server, trades } = yield* setup(16)
      // More than loopback's kernel socket buffers hold (a few MB), so a paused reader must hold the server back.
      const total = 100_000
      server.play(Array.from({ length: total }, (_, i) => tradeFrame(i + 1)))
      yield* waitUntil("the socket to pause", () => server.sent > 0)
      yield* Effect.promise(() => new Promise((r) => setTimeout(r, 500)))
      expect(yield* counter(Metrics.feedPaused, ["exchange", "binance"])).toBeGreaterThan(pausesBefore)
      // Pressure reached the server: it is held back instead of the daemon buffering everything.
      expect(server.sent).toBeLessThan(total)
      const ids: Array<number> = []
      while (ids.length < total) {
        for (const m of yield* trades()) if (m._tag === "Trade") ids.push(m.seq)
      }
      expect(ids).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    }),
  )

  it.scoped("counts malformed, unknown and oversized frames and keeps running", () =>
    Effect.gen(function* () {
      const tag = (reason: string): Array<[string, string]> => [
        ["exchange", "binance"],
        ["reason", reason],
      ]
      const before = {
        json: yield* counter(Metrics.framesRejected, ...tag("malformed_json")),
        schema: yield* counter(Metrics.framesRejected, ...tag("schema")),
        unknown: yield* counter(Metrics.framesIgnored, ...tag("unknown_stream")),
        unsubscribed: yield* counter(Metrics.framesIgnored, ...tag("unsubscribed_symbol")),
        oversize: yield* counter(Metrics.framesRejected, ["reason", "oversize"]),
      }
      const { server, trades } = yield* setup(1024)
      server.sendRaw('{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCU')
      server.sendRaw(
        '{"stream":"btcusdt@trade","data":{"e":"trade","E":1,"s":"BTCUSDT","t":"7","p":1,"q":"1","T":1,"m":true}}',
      )
      server.sendRaw('{"stream":"btcusdt@depth","data":{"lastUpdateId":1}}')
      server.sendRaw(tradeFrame(5, "ETHUSDT"))
      server.sendRaw(tradeFrame(1))
      yield* waitUntil("the first valid trade", () => server.clients === 1)
      const first = yield* trades()
      expect(first.map((m) => m._tag === "Trade" && m.seq)).toEqual([1])
      server.sendRaw(Buffer.alloc(2 * 1024 * 1024, 0x61).toString())
      yield* waitUntil("the oversized frame to close the connection", () => server.clients === 0)
      // Reconnect after the backoff (TestClock), resubscribe, and carry on.
      yield* TestClock.adjust("2 seconds")
      yield* waitUntil("the reconnect", () => server.connections === 2 && server.clients === 1)
      yield* TestClock.adjust("1 second")
      server.sendRaw(tradeFrame(2))
      const after = yield* trades()
      expect(after.map((m) => m._tag === "Trade" && m.seq)).toEqual([2])
      expect(yield* counter(Metrics.framesRejected, ...tag("malformed_json"))).toBe(before.json + 1)
      expect(yield* counter(Metrics.framesRejected, ...tag("schema"))).toBe(before.schema + 1)
      expect(yield* counter(Metrics.framesIgnored, ...tag("unknown_stream"))).toBe(before.unknown + 1)
      expect(yield* counter(Metrics.framesIgnored, ...tag("unsubscribed_symbol"))).toBe(before.unsubscribed + 1)
      expect(yield* counter(Metrics.framesRejected, ["reason", "oversize"])).toBe(before.oversize + 1)
    }),
  )
})
