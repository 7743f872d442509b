import { Duration, Effect, Layer, LogLevel, type Mailbox, Option } from "effect"
import type { AggregatorMessage } from "../../src/actors/aggregation/Aggregator.js"
import type { FeedPort } from "../../src/actors/aggregation/FeedPort.js"
import { SymbolStats } from "../../src/domain/SymbolStats.js"
import { Watermark } from "../../src/domain/Watermark.js"
import type { ExchangeId } from "../../src/schema/Market.js"
import { AppConfig, type AppConfigShape, type FeedConfig } from "../../src/layers/AppConfig.js"
import type { BinanceSettings } from "../../src/exchanges/binance/Venue.js"
import { DEFAULT_TIMEFRAMES } from "../../src/schema/Candle.js"
import { SEED_TTLS } from "../../src/domain/Topology.js"

export const testConfig = (overrides: Partial<AppConfigShape> = {}): AppConfigShape => ({
  feeds: [
    {
      exchange: "binance",
      symbols: ["BTC/USDT"],
      wsUrl: "ws://127.0.0.1:1",
      restUrl: "http://127.0.0.1:1",
      restWeightPerMinute: 1_200,
      settings: BINANCE_TRADES,
    },
  ],
  timeframes: DEFAULT_TIMEFRAMES,
  candleGraceMs: 2_000,
  candleEmpty: "flat",
  candleAmendHorizonMs: 3_600_000,
  candleRepairHorizonMs: 86_400_000,
  historyDays: 0,
  tradeFutureToleranceMs: Number.MAX_SAFE_INTEGER,
  databaseUrl: Option.none(),
  fleet: Option.none(),
  rabbitmqUrl: Option.none(),
  redis: Option.none(),
  live: {
    maxClients: 8,
    clientBufferBytes: 1 << 20,
    updatesPerSecond: 4,
    statusInterval: Duration.seconds(1),
    allowedOrigins: [],
  },
  publishWindow: 64,
  candleSink: "direct",
  indicators: [],
  retention: { table: new Map(), interval: Duration.hours(1), batchRows: 10_000 },
  ingestionMetricsInterval: Duration.minutes(1),
  influx: Option.none(),
  signalsPrefetch: 16,
  signalsKeys: ["signal.new", "signal.high"],
  queueType: "quorum",
  seedTtls: SEED_TTLS,
  rabbitmqManagementUrl: Option.none(),
  deadLetterPollMs: 15_000,
  telemetry: Option.none(),
  alerts: { symbolSilentMs: 300_000, allSilentMs: 120_000, gapUnfilledMs: 60_000 },
  backfill: {
    pollAfterFailures: 3,
    pollInterval: Duration.seconds(2),
    retryInterval: Duration.seconds(30),
    restTimeout: Duration.seconds(10),
    reconcileInterval: Duration.seconds(60),
  },
  dataDir: "./data",
  httpPort: 0,
  logLevel: LogLevel.Info,
  mailboxCapacity: 64,
  // Tests drive time with the TestClock: a batch that waited for more would wait for the test's next adjust.
  feedBatchWait: Duration.zero,
  pingInterval: Duration.seconds(15),
  pongTimeout: Duration.seconds(10),
  staleAfter: Duration.seconds(60),
  rotateAfter: Option.none(),
  rotationOverlap: Duration.seconds(1),
  reconnectBase: Duration.millis(100),
  reconnectMax: Duration.seconds(1),
  healthyAfter: Duration.seconds(30),
  storeBatchSize: 500,
  storeFlushInterval: Duration.millis(200),
  shutdownTimeout: Duration.seconds(5),
  heapGrowingPercent: 0,
  sinkBuffer: { memoryRecords: 50_000, diskMaxBytes: 64 * 1024 * 1024 },
  tickBatch: { max: 200, wait: Duration.millis(50) },
  ...overrides,
})

export const TestConfig = (overrides: Partial<AppConfigShape> = {}) => Layer.succeed(AppConfig, testConfig(overrides))

/** A feed's configuration for tests: its REST API, unless given, is a closed port. */
/** The settings of a Binance feed that reads raw trades; the other venues have none. */
export const BINANCE_TRADES: BinanceSettings = { tradeStream: "trade" }

export const testFeed = (
  exchange: ExchangeId,
  symbols: ReadonlyArray<string>,
  wsUrl: string,
  restUrl?: string,
): FeedConfig => ({
  exchange,
  symbols,
  wsUrl,
  restUrl: restUrl ?? "http://127.0.0.1:1",
  restWeightPerMinute: 1_200,
  settings: exchange === "binance" ? BINANCE_TRADES : undefined,
})

/** A feed's port to hand-made mailboxes; the ingestion modes and backfills it records are kept in `progress`. */
export const testPort = (symbols: ReadonlyArray<string>, routes: Map<string, Mailbox.Mailbox<AggregatorMessage>>) => {
  const recorded: Array<string> = []
  const port: FeedPort = {
    watermark: new Watermark(),
    routes,
    stats: new SymbolStats(symbols, 0),
    resume: new Map(),
    progress: {
      setMode: (symbol, mode, error) => Effect.sync(() => recorded.push(`${symbol} ${mode}${error ? " error" : ""}`)),
      recordFill: (symbol, trades) => Effect.sync(() => recorded.push(`${symbol} filled ${trades}`)),
      start: (symbol, afterId) => Effect.sync(() => recorded.push(`${symbol} starts after ${afterId}`)),
    },
    due: undefined,
  }
  return { port, recorded }
}
