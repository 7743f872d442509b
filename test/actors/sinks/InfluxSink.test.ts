import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { describe, expect } from "vitest"
import { InfluxSink, makeSignalsWriter } from "../../../src/actors/sinks/influx/InfluxSink.js"
import { Supervisor } from "../../../src/actors/Supervisor.js"
import { signalLine, subMillisecond } from "../../../src/domain/LineProtocol.js"
import type { InfluxSettings } from "../../../src/layers/AppConfig.js"
import { Health } from "../../../src/layers/Health.js"
import { Influx } from "../../../src/layers/Influx.js"
import { sampleCandle, sampleSignal, sampleTick, sampleTickWith } from "../../support/samples.js"
import { TestConfig } from "../../support/config.js"
import { until } from "../../support/daemon.js"
import { fieldTypes, INFLUX, influxQuery, nanosOf, scratchBucket } from "../../support/influx.js"

const settings = (bucket: string, token: string = INFLUX.token): InfluxSettings => ({
  url: INFLUX.proxy,
  token: Option.some(Redacted.make(token)),
  org: INFLUX.org,
  bucket,
  batchLines: 5_000,
  flushInterval: Duration.millis(100),
  timeout: Duration.seconds(10),
  gzip: false,
  deadLetterMaxBytes: 1024 * 1024,
})

const writerLayer = (influx: InfluxSettings, dataDir: string) =>
  Influx.Default.pipe(
    Layer.provideMerge(Supervisor.Default),
    Layer.provideMerge(Health.Default),
    Layer.provideMerge(TestConfig({ influx: Option.some(influx), dataDir })),
  )

/** Two trades of one symbol in one millisecond, as busy streams have them. */
const sameMillisecond = ["7000001", "7000002"].map((id) =>
  sampleTickWith(0, { tradeId: id, exchangeTs: 1_700_000_000_500, price: 30000 + (Number(id) % 10) }),
)

const deadLetters = (dataDir: string) => {
  const dir = join(dataDir, "influx-deadletter")
  try {
    return readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .join("")
  } catch {
    return ""
  }
}

const sinkOf = Effect.map(InfluxSink.make, (sink) => {
  if (sink === undefined) throw new Error("no InfluxDB sink although INFLUX_URL is set")
  return sink
})

const signalsWriter = (influx: InfluxSettings) =>
  Effect.flatMap(Influx, (i) => makeSignalsWriter(Option.getOrThrow(i.target), influx, 10, Duration.millis(10)))

describe("the InfluxDB sink, against influxd behind the v2-write proxy", () => {
  it.scopedLive(
    "writes ticks, candles and signals with the seed's tags, field types and times; a revision overwrites",
    () =>
      Effect.gen(function* () {
        const bucket = yield* Effect.acquireRelease(
          Effect.promise(() => scratchBucket()),
          (b) => Effect.promise(b.drop),
        )
        const dataDir = mkdtempSync(join(tmpdir(), "influx-writer-"))
        yield* Effect.gen(function* () {
          const sink = yield* sinkOf
          const signals = yield* signalsWriter(settings(bucket.name))
          const candle = sampleCandle(0)
          const revised = { ...candle, close: "30005.5", high: "30011", trades: 421, revision: 1 }
          yield* sink.ticks([...sameMillisecond, sampleTick(1)])
          yield* sink.candles([candle])
          yield* sink.candles([revised])
          // The awaited path returns only once InfluxDB has the point.
          yield* signals.write(signalLine(sampleSignal({ inference_time_ms: 12, timestamp: 1_700_000_000_123 })))
          const stored = yield* Effect.promise(() =>
            influxQuery(INFLUX.engine, bucket.name, "SELECT * FROM ml_signals"),
          )
          expect(stored.map((s) => nanosOf(s.time))).toEqual(["1700000000123000000"])
          expect(stored).toEqual([
            {
              time: expect.any(String),
              exchange: "binance",
              symbol: "BTC_USDT",
              signal: "buy",
              risk_level: "low",
              confidence: 0.91,
              prob_buy: 0.91,
              prob_hold: 0.06,
              prob_sell: 0.03,
              risk_score: 0.2,
              inference_time_ms: 12,
              model_version: "v1.4.2",
            },
          ])
          yield* Effect.promise(() =>
            until("ticks and candles in InfluxDB", async () => {
              const ticks = await influxQuery(INFLUX.engine, bucket.name, "SELECT count(last) FROM market_ticks")
              const candles = await influxQuery(INFLUX.engine, bucket.name, "SELECT close FROM market_ohlcv")
              return ticks[0]?.count === 3 && candles[0]?.close === 30005.5
            }),
          )
        }).pipe(Effect.provide(writerLayer(settings(bucket.name), dataDir)))

        const ticks = yield* Effect.promise(() =>
          influxQuery(INFLUX.engine, bucket.name, "SELECT * FROM market_ticks WHERE symbol = 'BTC_USDT'"),
        )
        // Same millisecond, two points: the sub-millisecond part comes from the trade id.
        expect(ticks.map((t) => nanosOf(t.time))).toEqual([
          `1700000000001${String(subMillisecond("t1")).padStart(6, "0")}`,
          "1700000000500000001",
          "1700000000500000002",
        ])
        expect(ticks[0]).toMatchObject({
          exchange: "binance",
          symbol: "BTC_USDT",
          bid: 30000,
          ask: 30000.2,
          spread: 30000.2 - 30000,
        })
        const candles = yield* Effect.promise(() =>
          influxQuery(INFLUX.engine, bucket.name, "SELECT * FROM market_ohlcv"),
        )
        expect(candles.map((c) => nanosOf(c.time))).toEqual([`${sampleCandle(0).openTime}000000`])
        expect(candles).toEqual([
          {
            time: expect.any(String),
            exchange: "binance",
            symbol: "BTC_USDT",
            timeframe: "1m",
            open: 30000.01,
            high: 30011,
            low: 29990.1,
            close: 30005.5,
            volume: 12.345678,
            trades: 421,
            vwap: 30001.2,
            revision: 1,
            is_final: true,
            complete: true,
          },
        ])
        const types = yield* Effect.promise(() =>
          Promise.all(
            ["market_ticks", "market_ohlcv", "ml_signals"].map((m) => fieldTypes(INFLUX.engine, bucket.name, m)),
          ),
        )
        expect(types[0]).toEqual({
          ask: "float",
          bid: "float",
          last: "float",
          mid: "float",
          spread: "float",
          spread_bps: "float",
          volume: "float",
        })
        expect(types[1]).toMatchObject({
          trades: "integer",
          close: "float",
          vwap: "float",
          revision: "integer",
          is_final: "boolean",
          complete: "boolean",
        })
        expect(types[2]).toMatchObject({ model_version: "string", confidence: "float", inference_time_ms: "float" })
        expect(deadLetters(dataDir)).toBe("")
      }),
  )
})

describe("the InfluxDB write request", () => {
  /** A server that answers every write with 204 and keeps each request's Content-Encoding. */
  const recordingServer = Effect.acquireRelease(
    Effect.async<{ url: string; encodings: Array<string>; server: Server }>((resume) => {
      const encodings: Array<string> = []
      const server = createServer((req, res) => {
        req.resume()
        req.on("end", () => {
          encodings.push(req.headers["content-encoding"] ?? "identity")
          res.writeHead(204).end()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, encodings, server }))
      })
    }),
    ({ server }) => Effect.async<void>((resume) => void server.close(() => resume(Effect.void))),
  )

  const bodyEncoding = (gzip: boolean) =>
    Effect.gen(function* () {
      const { url, encodings } = yield* recordingServer
      const dataDir = mkdtempSync(join(tmpdir(), "influx-encoding-"))
      yield* Effect.gen(function* () {
        const target = Option.getOrThrow((yield* Influx).target)
        yield* target.write(Array.from({ length: 100 }, (_, i) => `m,s=a v=${i} ${1_700_000_000_000_000_000 + i}`))
      }).pipe(Effect.provide(writerLayer({ ...settings("any"), url, gzip }, dataDir)))
      return encodings
    })

  it.scopedLive("is sent uncompressed by default, and gzipped with INFLUX_GZIP on", () =>
    Effect.gen(function* () {
      expect(yield* bodyEncoding(false)).toEqual(["identity"])
      expect(yield* bodyEncoding(true)).toEqual(["gzip"])
    }),
  )
})
