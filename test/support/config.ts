import { Duration, Layer, LogLevel, Option } from "effect"
import { AppConfig, type AppConfigShape } from "../../src/layers/AppConfig.js"
import { DEFAULT_TIMEFRAMES } from "../../src/schema/Candle.js"

export const testConfig = (overrides: Partial<AppConfigShape> = {}): AppConfigShape => ({
  feeds: [{ exchange: "binance", symbols: ["BTC/USDT"], wsUrl: "ws://127.0.0.1:1" }],
  binanceTradeStream: "trade",
  timeframes: DEFAULT_TIMEFRAMES,
  candleGraceMs: 2_000,
  candleEmpty: "flat",
  candleAmendHorizonMs: 3_600_000,
  tradeFutureToleranceMs: Number.MAX_SAFE_INTEGER,
  databaseUrl: Option.none(),
  rabbitmqUrl: Option.none(),
  publishWindow: 64,
  candleSink: "direct",
  influx: Option.none(),
  signalsPrefetch: 16,
  telemetry: Option.none(),
  alerts: { symbolSilentMs: 300_000, allSilentMs: 120_000, gapClearMs: 60_000 },
  dataDir: "./data",
  httpPort: 0,
  logLevel: LogLevel.Info,
  mailboxCapacity: 64,
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
  ...overrides,
})

export const TestConfig = (overrides: Partial<AppConfigShape> = {}) => Layer.succeed(AppConfig, testConfig(overrides))
