import { it } from "@effect/vitest"
import { Duration, Effect, Layer, type Mailbox, Option, Redacted, TestClock } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import type { AggregatorMessage } from "../../src/actors/aggregation/Aggregator.js"
import { Aggregators } from "../../src/actors/aggregation/Aggregators.js"
import { IngestionMetricsLive } from "../../src/actors/IngestionMetrics.js"
import { IngestionMeter } from "../../src/domain/IngestionMetrics.js"
import { SymbolStats } from "../../src/domain/SymbolStats.js"
import { CandleStore } from "../../src/layers/CandleStore.js"
import { PostgresLive } from "../../src/layers/Postgres.js"
import { TestConfig, testPort } from "../support/config.js"
import { query, scratchDatabase } from "../support/postgres.js"

describe("ingestion_metrics", () => {
  it("per symbol and interval: trades a second, the newest trade's receive delay, the share of trades lost in gaps", () => {
    const stats = new SymbolStats(["BTC/USDT", "ETH/USDT"], 0)
    const meter = new IngestionMeter("binance", 0)
    for (let i = 0; i < 90; i++) stats.trade("BTC/USDT", 1_000 + i, 900 + i)
    stats.gap("BTC/USDT", 10, 500)
    expect(meter.sample(stats.all(), 30_000)).toEqual([
      { symbol: "binance:BTC/USDT", metricType: "throughput", value: 3 },
      { symbol: "binance:BTC/USDT", metricType: "error_rate", value: 0.1 },
      { symbol: "binance:BTC/USDT", metricType: "latency_ms", value: 100 },
      { symbol: "binance:ETH/USDT", metricType: "throughput", value: 0 },
      { symbol: "binance:ETH/USDT", metricType: "error_rate", value: 0 },
    ])
    // The next interval counts only what came since.
    stats.trade("BTC/USDT", 31_000, 30_990)
    expect(meter.sample(stats.all(), 40_000).slice(0, 3)).toEqual([
      { symbol: "binance:BTC/USDT", metricType: "throughput", value: 0.1 },
      { symbol: "binance:BTC/USDT", metricType: "error_rate", value: 0 },
      { symbol: "binance:BTC/USDT", metricType: "latency_ms", value: 10 },
    ])
  })

  const db = scratchDatabase("ingest_ingestion_metrics")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it.scoped(
    "the daemon writes them every INGESTION_METRICS_INTERVAL_MS (on the TestClock, into the real database)",
    () =>
      Effect.gen(function* () {
        const url = yield* Effect.promise(() => db.create())
        const routes = new Map<string, Mailbox.Mailbox<AggregatorMessage>>()
        const { port } = testPort(["BTC/USDT"], routes)
        const layer = IngestionMetricsLive.pipe(
          Layer.provideMerge(CandleStore.Default),
          Layer.provideMerge(PostgresLive),
          Layer.provideMerge(
            Layer.merge(
              TestConfig({
                databaseUrl: Option.some(Redacted.make(url)),
                ingestionMetricsInterval: Duration.seconds(60),
              }),
              Layer.succeed(
                Aggregators,
                Aggregators.make({
                  port: () => port,
                  ports: new Map([["binance", port]]),
                  openCandles: () => [],
                  attach: () => Effect.void,
                }),
              ),
            ),
          ),
        )
        yield* Layer.build(layer)
        for (let i = 0; i < 120; i++) port.stats.trade("BTC/USDT", 1_000, 990)
        const rows = () =>
          query<{ symbol: string; metric_type: string; metric_value: number }>(
            url,
            `SELECT symbol, metric_type, metric_value FROM ingestion_metrics ORDER BY metric_type`,
          )
        yield* TestClock.adjust(Duration.seconds(59))
        expect(yield* Effect.promise(rows)).toEqual([])
        yield* TestClock.adjust(Duration.seconds(1))
        let written: Awaited<ReturnType<typeof rows>> = []
        for (let i = 0; i < 100 && written.length < 3; i++) {
          yield* Effect.promise(() => new Promise((r) => setTimeout(r, 50)))
          written = yield* Effect.promise(rows)
        }
        expect(written).toEqual([
          { symbol: "binance:BTC/USDT", metric_type: "error_rate", metric_value: 0 },
          { symbol: "binance:BTC/USDT", metric_type: "latency_ms", metric_value: 10 },
          { symbol: "binance:BTC/USDT", metric_type: "throughput", metric_value: 2 },
        ])
      }),
  )
})
