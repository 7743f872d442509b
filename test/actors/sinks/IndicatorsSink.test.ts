import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import amqp, { type ConsumeMessage } from "amqplib"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { it } from "@effect/vitest"
import { Duration, Effect, Layer, Option, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { IndicatorsSink } from "../../../src/actors/sinks/indicators/IndicatorsSink.js"
import { postgresWriter } from "../../../src/actors/sinks/postgres/PostgresSink.js"
import type { MarketSink } from "../../../src/actors/sinks/registry.js"
import { Supervisor } from "../../../src/actors/Supervisor.js"
import { DEFAULT_INDICATORS, IndicatorSet } from "../../../src/domain/indicators/IndicatorSet.js"
import { IndicatorSeries } from "../../../src/domain/indicators/IndicatorSeries.js"
import { CandleStore } from "../../../src/layers/CandleStore.js"
import { Health } from "../../../src/layers/Health.js"
import type { AppConfigShape, InfluxSettings } from "../../../src/layers/AppConfig.js"
import { IndicatorStore } from "../../../src/layers/IndicatorStore.js"
import { Influx } from "../../../src/layers/Influx.js"
import { MARKET } from "../../../src/domain/Topology.js"
import { Rabbit } from "../../../src/layers/Rabbit.js"
import { PostgresLive } from "../../../src/layers/Postgres.js"
import type { Candle } from "../../../src/schema/Candle.js"
import { candleSeries } from "../../support/candleSeries.js"
import { TestConfig } from "../../support/config.js"
import { until } from "../../support/daemon.js"
import { INFLUX, influxQuery, nanosOf, scratchBucket } from "../../support/influx.js"
import { query, scratchDatabase } from "../../support/postgres.js"
import { freshVhost } from "../../support/rabbit.js"
import { sampleCandle } from "../../support/samples.js"

const set = IndicatorSet.of(DEFAULT_INDICATORS)

/** Generated prices as final 1m candles of BTC/USDT, the decimals the aggregators would write. */
const candles: ReadonlyArray<Candle> = candleSeries(1_300, 30_000, 11).map((c, i) => ({
  ...sampleCandle(i),
  open: String(c.close),
  high: String(c.high),
  low: String(c.low),
  close: String(c.close),
}))

/** What an uninterrupted run over `cs` computes, by open time, from the decimals as stored. */
const expected = (cs: ReadonlyArray<Candle>) => {
  const series = new IndicatorSeries(set, 64)
  const rows = new Map<number, Record<string, number>>()
  for (const c of cs) {
    const applied = series.apply({
      openTime: c.openTime,
      high: Number(c.high),
      low: Number(c.low),
      close: Number(c.close),
    })
    if (applied._tag === "Rows") for (const r of applied.rows) rows.set(r.openTime, { ...r.values })
  }
  return rows
}

type StoredRow = { timestamp: string; indicator: string; value: string; revision: number }

const stored = async (url: string) => {
  const rows = await query<StoredRow>(
    url,
    `SELECT "timestamp"::text, indicator, value::text, revision FROM indicators
     WHERE exchange = 'binance' AND symbol = 'BTC/USDT' AND timeframe = '1m'`,
  )
  const byTime = new Map<number, Record<string, number>>()
  for (const r of rows) {
    const values = byTime.get(Number(r.timestamp)) ?? {}
    values[r.indicator] = Number(r.value)
    byTime.set(Number(r.timestamp), values)
  }
  return { byTime, rows }
}

const stored_ = (url: string) =>
  query<{ timestamp: string }>(url, `SELECT "timestamp"::text FROM indicators ORDER BY "timestamp"`)

const countOf = (m: Map<number, Record<string, number>>) =>
  [...m.values()].reduce((n, v) => n + Object.keys(v).length, 0)

describe("indicators at ingest, into PostgreSQL, InfluxDB and RabbitMQ", () => {
  const db = scratchDatabase("ingest_indicators")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  const layer = (url: string, dataDir: string, targets: Partial<AppConfigShape>) =>
    Layer.mergeAll(CandleStore.Default, IndicatorStore.Default, Influx.Default, Rabbit.Default).pipe(
      Layer.provideMerge(PostgresLive),
      Layer.provideMerge(Supervisor.Default),
      Layer.provideMerge(Health.Default),
      Layer.provideMerge(
        TestConfig({
          databaseUrl: Option.some(Redacted.make(url)),
          dataDir,
          indicators: DEFAULT_INDICATORS,
          storeFlushInterval: Duration.millis(50),
          ...targets,
        }),
      ),
    )

  const withSink = <A>(
    url: string,
    dataDir: string,
    use: (sink: MarketSink) => Effect.Effect<A, never, CandleStore>,
    targets: Partial<AppConfigShape> = {},
  ) =>
    Effect.scoped(
      Effect.gen(function* () {
        const sink = yield* IndicatorsSink.make
        if (sink === undefined) throw new Error("no indicators sink although INDICATORS is set")
        return yield* use(sink)
      }),
    ).pipe(Effect.provide(layer(url, dataDir, targets)))

  it.live(
    "every final candle's indicators land in `indicators`, equal to an uninterrupted computation; a revision rewrites them; a restart warms from stored candles",
    () =>
      Effect.gen(function* () {
        const url = yield* Effect.promise(() => db.create())
        const dataDir = mkdtempSync(join(tmpdir(), "indicators-sink-"))
        const firstRun = candles.slice(0, 1_200)

        // Run 1: the candles are in ohlcv_candles (as the PostgreSQL sink writes them) and go through the sink.
        yield* withSink(url, dataDir, (sink) =>
          Effect.gen(function* () {
            yield* Effect.flatMap(CandleStore, (s) => s.upsert(firstRun)).pipe(Effect.orDie)
            // An open candle is not final: it has no indicators.
            yield* sink.candles!([{ ...candles[1_200]!, isFinal: false }])
            for (let i = 0; i < firstRun.length; i += 100) yield* sink.candles!(firstRun.slice(i, i + 100))
            const want = expected(firstRun)
            yield* Effect.promise(() =>
              until("run 1's rows", async () => countOf((await stored(url)).byTime) === countOf(want)),
            )
            expect((yield* Effect.promise(() => stored(url))).byTime).toEqual(want)
            // No value before its indicator has the history TA-Lib needs: sma_200's first is the 200th candle.
            const first200 = Math.min(...[...want].filter(([, v]) => v.sma_200 !== undefined).map(([t]) => t))
            expect(first200).toBe(firstRun[199]!.openTime)

            // A late trade revises a final candle: it and every later row that changed are rewritten.
            const at = 1_150
            const revised = { ...firstRun[at]!, close: "31000", high: "31000", revision: 1 }
            yield* sink.candles!([revised])
            const fresh = expected(firstRun.map((c, i) => (i === at ? revised : c)))
            yield* Effect.promise(() =>
              until("the revision's rows", async () => {
                const s = await stored(url)
                return s.rows.some((r) => r.revision === 1) && isDeepStrictEqual(s.byTime, fresh)
              }),
            )
            yield* Effect.flatMap(CandleStore, (s) => s.upsert([revised])).pipe(Effect.orDie)
          }),
        )

        // Run 2, a new process: the series is warmed from the stored candles, revision included.
        const all = candles.map((c, i) => (i === 1_150 ? { ...c, close: "31000", high: "31000", revision: 1 } : c))
        const uninterrupted = expected(all)
        yield* withSink(url, dataDir, (sink) =>
          Effect.gen(function* () {
            yield* sink.candles!(all.slice(1_200))
            yield* Effect.promise(() =>
              until("run 2's rows", async () => {
                const s = await stored(url)
                return all.slice(1_200).every((c) => s.byTime.has(c.openTime))
              }),
            )
          }),
        )
        const after = (yield* Effect.promise(() => stored(url))).byTime
        for (const c of all.slice(1_200)) {
          const want = uninterrupted.get(c.openTime)!
          const got = after.get(c.openTime)!
          expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort())
          for (const name of Object.keys(want)) {
            const scale = name === "macd_hist" ? Number(c.close) : Math.abs(want[name]!)
            expect(Math.abs(got[name]! - want[name]!) / scale, `${name} at ${c.openTime}`).toBeLessThanOrEqual(1e-9)
          }
        }
      }),
    120_000,
  )

  it.scopedLive(
    "with INFLUX_URL, each candle's indicators are one market_indicators point, equal to the stored rows",
    () =>
      Effect.gen(function* () {
        const url = yield* Effect.promise(() => db.create())
        const bucket = yield* Effect.acquireRelease(
          Effect.promise(() => scratchBucket()),
          (b) => Effect.promise(b.drop),
        )
        const dataDir = mkdtempSync(join(tmpdir(), "indicators-influx-"))
        const run = candles.slice(0, 260)
        const influx: InfluxSettings = {
          url: INFLUX.proxy,
          token: Option.some(Redacted.make(INFLUX.token)),
          org: INFLUX.org,
          bucket: bucket.name,
          batchLines: 1_000,
          flushInterval: Duration.millis(50),
          timeout: Duration.seconds(10),
          gzip: false,
          deadLetterMaxBytes: 1024 * 1024,
        }
        const points = () => influxQuery(INFLUX.engine, bucket.name, "SELECT * FROM market_indicators")
        yield* withSink(
          url,
          dataDir,
          (sink) =>
            Effect.gen(function* () {
              yield* sink.candles!(run)
              yield* Effect.promise(() =>
                until("a point per candle with indicators", async () => (await points()).length === expected(run).size),
              )
            }),
          { influx: Option.some(influx) },
        )
        const want = expected(run)
        for (const p of yield* Effect.promise(points)) {
          const openTime = Number(nanosOf(p.time).slice(0, -6))
          expect(p).toMatchObject({ exchange: "binance", symbol: "BTC_USDT", timeframe: "1m" })
          const values = Object.fromEntries(
            Object.entries(p).filter(([k, v]) => k in want.get(openTime)! && typeof v === "number"),
          )
          expect(values, `point at ${openTime}`).toEqual(want.get(openTime))
        }
      }),
  )

  it.scopedLive(
    "with RABBITMQ_URL, one persistent message per candle on indicator.<exchange>.<BASE_QUOTE>.<timeframe>; a revision's changed rows are new messages",
    () =>
      Effect.gen(function* () {
        const url = yield* Effect.promise(() => db.create())
        const vhost = yield* Effect.acquireRelease(
          Effect.sync(() => freshVhost("indicators")),
          (v) => Effect.sync(v.drop),
        )
        const conn = yield* Effect.acquireRelease(
          Effect.promise(() => amqp.connect(vhost.url)),
          (c) => Effect.promise(() => c.close()),
        )
        const ch = yield* Effect.promise(() => conn.createChannel())
        yield* Effect.promise(() => ch.assertExchange(MARKET, "topic", { durable: true }))
        const q = yield* Effect.promise(() => ch.assertQueue("", { exclusive: true }))
        yield* Effect.promise(() => ch.bindQueue(q.queue, MARKET, "indicator.#"))
        const received: Array<ConsumeMessage> = []
        yield* Effect.promise(() => ch.consume(q.queue, (m) => m && received.push(m), { noAck: true }))

        const run = candles.slice(0, 260)
        const revised = { ...run[250]!, close: "30500", high: "30500", revision: 1 }
        const want = expected(run)
        const after = expected(run.map((c, i) => (i === 250 ? revised : c)))
        const changed = [...after].filter(([t, v]) => !isDeepStrictEqual(want.get(t), v)).length
        yield* withSink(
          url,
          mkdtempSync(join(tmpdir(), "indicators-rabbit-")),
          (sink) =>
            Effect.gen(function* () {
              yield* sink.candles!(run)
              yield* Effect.promise(() => until("a message per candle", () => received.length === want.size))
              yield* sink.candles!([revised])
              yield* Effect.promise(() =>
                until("the revision's messages", () => received.length === want.size + changed),
              )
            }),
          { rabbitmqUrl: Option.some(Redacted.make(vhost.url)) },
        )
        expect(changed).toBe(10)
        const bodies = received.map(
          (m) =>
            JSON.parse(m.content.toString()) as {
              openTime: number
              revision: number
              indicators: Record<string, number>
            },
        )
        for (const [i, m] of received.entries()) {
          expect(m.fields.routingKey).toBe("indicator.binance.BTC_USDT.1m")
          expect(m.properties.deliveryMode).toBe(2)
          expect(m.properties.messageId).toMatch(/^binance:BTC\/USDT:1m:\d+:\d+:[0-9a-f]{8}$/)
          const expectedValues = i < want.size ? want : after
          expect(bodies[i]!.indicators).toEqual(expectedValues.get(bodies[i]!.openTime))
        }
        expect(new Set(received.map((m) => m.properties.messageId)).size).toBe(received.length)
        expect(bodies[want.size]).toMatchObject({ openTime: revised.openTime, revision: 1 })
      }),
    60_000,
  )

  it.live("a row PostgreSQL refuses is bisected out to the dead-letter file; the rest of its batch is stored", () =>
    Effect.gen(function* () {
      const url = yield* Effect.promise(() => db.create())
      const dataDir = mkdtempSync(join(tmpdir(), "indicators-refused-"))
      const records = [0, 1, 2, 3, 4].map((i) => ({
        exchange: "binance" as const,
        symbol: "BTC/USDT",
        timeframe: "1m" as const,
        openTime: 1_700_000_000_000 + i * 60_000,
        // An integer column cannot hold three billion: SQLSTATE 22003, a refusal for the content.
        revision: i === 3 ? 3_000_000_000 : 0,
        values: { sma_20: 30_000 + i },
      }))
      const unplaced = yield* Effect.gen(function* () {
        const store = yield* IndicatorStore
        const write = yield* postgresWriter({
          sink: "indicators-postgres",
          prefix: "indicators",
          field: "record",
          noun: "indicator row(s)",
          upsert: store.upsert,
          onStored: () => Effect.void,
        })
        return yield* Effect.either(write(records))
      }).pipe(Effect.provide(layer(url, dataDir, {})))
      expect(unplaced._tag).toBe("Right")
      const stored = yield* Effect.promise(() => stored_(url))
      expect(stored.map((r) => Number(r.timestamp)).sort()).toEqual(
        records.filter((r) => r.revision === 0).map((r) => r.openTime),
      )
      const dir = join(dataDir, "deadletter")
      const lines = readdirSync(dir).flatMap((f) => readFileSync(join(dir, f), "utf8").trim().split("\n"))
      expect(lines).toHaveLength(1)
      expect(JSON.parse(lines[0]!)).toMatchObject({
        record: { openTime: records[3]!.openTime },
        error: { sqlState: "22003" },
      })
    }),
  )
})
