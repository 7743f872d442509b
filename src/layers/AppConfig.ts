import { hostname } from "node:os"
import {
  Cause,
  Config,
  ConfigError,
  Context,
  Data,
  Duration,
  Effect,
  Either,
  Layer,
  LogLevel,
  Option,
  Redacted,
  Schema,
} from "effect"
import { DEFAULT_INDICATORS, unknownIndicator } from "../domain/indicators/IndicatorSet.js"
import { parseRetention, type RetentionTable, SEED_RETENTION } from "../domain/Retention.js"
import { SEED_TTLS, type SeedTtls } from "../domain/Topology.js"
import type { PipelineOptions } from "../domain/SymbolPipeline.js"
import { SUPPORTED_EXCHANGES, VENUES } from "../exchanges/registry.js"
import { DEFAULT_TIMEFRAMES, longestPeriodMs, Timeframe } from "../schema/Candle.js"
import { ExchangeId, UnifiedSymbol } from "../schema/Market.js"

/** Feeds this build can run (every venue of the registry); FEEDS naming any other exchange is refused at start-up. */

export interface FeedConfig {
  readonly exchange: ExchangeId
  readonly symbols: ReadonlyArray<string>
  readonly wsUrl: string
  /** The exchange's REST API: trade history for backfill and polling, klines for reconciliation. */
  readonly restUrl: string
  /** Request weight per minute this daemon may spend there (`<EXCHANGE>_REST_WEIGHT_PER_MINUTE`). */
  readonly restWeightPerMinute: number
  /** The venue's own settings (`Venue.settings`), handed back to its module as they were read. */
  readonly settings: unknown
}

export interface BackfillSettings {
  /** After this many failed reconnects in a row, trades are polled over REST until the WebSocket is back. */
  readonly pollAfterFailures: number
  readonly pollInterval: Duration.Duration
  /** Between attempts at a gap whose REST requests failed even after their own retries. */
  readonly retryInterval: Duration.Duration
  readonly restTimeout: Duration.Duration
  /** How often final 1m candles are compared with the exchange's own; 0 turns reconciliation off. */
  readonly reconcileInterval: Duration.Duration
}

export interface InfluxSettings {
  readonly url: string
  readonly token: Option.Option<Redacted.Redacted>
  readonly org: string
  readonly bucket: string
  /** Lines per write request at most, and how long the first line of a batch waits for the rest. */
  readonly batchLines: number
  readonly flushInterval: Duration.Duration
  readonly timeout: Duration.Duration
  /** Gzip request bodies: worth its CPU only where bandwidth to InfluxDB is scarce (a WAN or metered link). */
  readonly gzip: boolean
  /** The dead-letter directory's size limit; past it the oldest file is deleted (logged and counted). */
  readonly deadLetterMaxBytes: number
}

export interface TelemetrySettings {
  /** OTLP/HTTP base URL; traces go to `<endpoint>/v1/traces`. */
  readonly endpoint: string
  readonly serviceName: string
  /** Share of new traces recorded (parent-based: a span follows its parent's decision). */
  readonly sampleRatio: number
}

/** The seed's data-quality alert thresholds. */
export interface AlertSettings {
  /** A symbol without a trade for this long is a warning. */
  readonly symbolSilentMs: number
  /** No trade from any symbol for this long is an error. */
  readonly allSilentMs: number
  /** A gap incident ends after this long without a new gap while the symbol trades. */
  readonly gapUnfilledMs: number
}

export interface AppConfigShape {
  readonly feeds: ReadonlyArray<FeedConfig>
  readonly timeframes: ReadonlyArray<Timeframe>
  readonly candleGraceMs: number
  readonly candleEmpty: "flat" | "skip"
  readonly candleAmendHorizonMs: number
  /**
   * How far back an unfilled gap keeps its candles for the backfill, past the amend horizon. Never shorter than it, nor
   * than the longest timeframe, whose open candle a fresh start fills from its start.
   */
  readonly candleRepairHorizonMs: number
  /** On a first start (nothing stored for a symbol), load this many whole UTC days before today, and today so far. */
  readonly historyDays: number
  readonly tradeFutureToleranceMs: number
  readonly databaseUrl: Option.Option<Redacted.Redacted>
  /** FLEET: daemons that share (or, redundant, each ingest all of) the configured symbols; none when unset. */
  readonly fleet: Option.Option<FleetSettings>
  /** Redis quotes; unset REDIS_URL turns them off. */
  readonly redis: Option.Option<{
    readonly url: Redacted.Redacted
    readonly quotesPerSecond: number
    readonly primaryExchange: string
  }>
  /** The live page's WebSocket `/api/live`: its clients, their buffers and what it pushes how often. */
  readonly live: {
    readonly maxClients: number
    /** Bytes a client may leave unread before it is dropped as too slow. */
    readonly clientBufferBytes: number
    /** How often a watched open candle is pushed at most. */
    readonly updatesPerSecond: number
    readonly statusInterval: Duration.Duration
    /** Origins besides the page's own that may connect (`*`: any); clients without an Origin header always may. */
    readonly allowedOrigins: ReadonlyArray<string>
  }
  /** RabbitMQ; unset turns the publisher off. */
  readonly rabbitmqUrl: Option.Option<Redacted.Redacted>
  /** Published messages awaiting the broker's confirm at most (the publisher's window). */
  readonly publishWindow: number
  /** `direct`: aggregators hand candles to the writer; `queue`: through `market.ohlcv` and a consumer. */
  readonly candleSink: "direct" | "queue"
  /** How often each symbol's throughput, latency and error rate go to `ingestion_metrics`. */
  readonly ingestionMetricsInterval: Duration.Duration
  /** How long candles and indicators are kept per timeframe, and how the deleting job runs. */
  readonly retention: {
    readonly table: RetentionTable
    readonly interval: Duration.Duration
    readonly batchRows: number
  }
  /** Indicators computed from final candles (periods in the names); empty turns the indicator pipeline off. */
  readonly indicators: ReadonlyArray<string>
  /** InfluxDB; unset INFLUX_URL turns the writer and the signals consumer off. */
  readonly influx: Option.Option<InfluxSettings>
  /** Signals the broker hands the signals consumer before the first is acked (and written at once at most). */
  readonly signalsPrefetch: number
  /** Routing keys on `neuraltrade.signals` whose signals `ingest.signals` takes (and `ml_signals` stores). */
  readonly signalsKeys: ReadonlyArray<string>
  /** The daemon's own queues (`ingest.*`): quorum (replicated, the default) or classic. */
  readonly queueType: "quorum" | "classic"
  /** The seed queues' message TTLs, as declared; the seed's values unless a test or a broker of its own wants others. */
  readonly seedTtls: SeedTtls
  /**
   * The broker's management API, used to check that every dead-letter queue has a bound; by default RABBITMQ_URL's
   * host on port 15672 with its credentials. Unreachable = unchecked, said once.
   */
  readonly rabbitmqManagementUrl: Option.Option<Redacted.Redacted>
  /** How often the dead-letter queues' depths are read for /metrics and /api/status. */
  readonly deadLetterPollMs: number
  /** OpenTelemetry tracing; unset OTEL_EXPORTER_OTLP_ENDPOINT turns the exporter off. */
  readonly telemetry: Option.Option<TelemetrySettings>
  readonly alerts: AlertSettings
  readonly backfill: BackfillSettings
  readonly dataDir: string
  readonly httpPort: number
  readonly logLevel: LogLevel.LogLevel
  readonly mailboxCapacity: number
  /**
   * On a busy connection with fewer than three quarters of MAILBOX_CAPACITY frames waiting, how long the next take
   * waits for more (0: never waits).
   */
  readonly feedBatchWait: Duration.Duration
  /** Connection liveness: ping interval and how long a pong may take. */
  readonly pingInterval: Duration.Duration
  readonly pongTimeout: Duration.Duration
  /**
   * A connection that delivers no trade or quote for this long (or longer, where its observed rate is slower) is
   * replaced; a symbol silent this long is reported quiet, never reconnected for.
   */
  readonly staleAfter: Duration.Duration
  /** Age at which a connection to a venue that caps connection lifetime (Binance: 24 h) is replaced; default 15 min before the cap. */
  readonly rotateAfter: Option.Option<Duration.Duration>
  /** How long the old and new connection overlap during a replacement. */
  readonly rotationOverlap: Duration.Duration
  readonly reconnectBase: Duration.Duration
  readonly reconnectMax: Duration.Duration
  /** A connection that stayed up this long resets the reconnect backoff. */
  readonly healthyAfter: Duration.Duration
  readonly storeBatchSize: number
  readonly storeFlushInterval: Duration.Duration
  readonly shutdownTimeout: Duration.Duration
  /** V8's heap growth after each full collection, in percent (0: V8's own, which grows up to 4× for a small heap). */
  readonly heapGrowingPercent: number
  readonly sinkBuffer: SinkBufferSettings
  readonly tickBatch: TickBatchSettings
}

/** Each sink's own buffers: records in memory, then bytes on disk under DATA_DIR/spill/<sink>. */
export interface SinkBufferSettings {
  readonly memoryRecords: number
  readonly diskMaxBytes: number
}

/** Ticks on RabbitMQ: up to `max` of one symbol per message, a message waiting `wait` at most to fill. */
export interface TickBatchSettings {
  readonly max: number
  readonly wait: Duration.Duration
}

export class AppConfig extends Context.Tag("ingestd/AppConfig")<AppConfig, AppConfigShape>() {}

/** Start-up refused because of the environment; the message names the variable and the expected value. */
export interface FleetSettings {
  readonly name: string
  /** This daemon's name in the fleet: unique among its members. */
  readonly member: string
  /** shared: each symbol has one owner at a time; redundant: every member ingests every symbol and the stores merge. */
  readonly mode: "shared" | "redundant"
  /** A dead or cut-off member's symbols are owned again within this. */
  readonly takeoverAfter: Duration.Duration
}

export class ConfigInvalid extends Data.TaggedError("ConfigInvalid")<{ readonly message: string }> {}

const list = (name: string) =>
  Config.string(name).pipe(
    Config.map((s) =>
      s
        .split(",")
        .map((x) => x.trim())
        .filter((x) => x.length > 0),
    ),
  )

const literalList = <A extends string>(name: string, schema: Schema.Schema<A>, fallback: ReadonlyArray<A>) =>
  list(name).pipe(
    Config.mapOrFail((xs) => {
      const bad = xs.filter((x) => !Schema.is(schema)(x))
      return bad.length === 0
        ? Either.right(xs as unknown as ReadonlyArray<A>)
        : Either.left(ConfigError.InvalidData([name], `unknown value ${bad.join(", ")}`))
    }),
    Config.withDefault(fallback),
  )

const millis = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a whole number of milliseconds ≥ 0", validation: (n) => n >= 0 }),
    Config.withDefault(fallback),
  )

const positive = (name: string, fallback: number) =>
  Config.integer(name).pipe(
    Config.validate({ message: "must be a whole number ≥ 1", validation: (n) => n >= 1 }),
    Config.withDefault(fallback),
  )

/** The names people type for a level, in any case: Effect's own labels (`WARN`, `Warning`) and the usual aliases. */
const LOG_LEVELS: Record<string, LogLevel.LogLevel> = {
  all: LogLevel.All,
  trace: LogLevel.Trace,
  debug: LogLevel.Debug,
  info: LogLevel.Info,
  warn: LogLevel.Warning,
  warning: LogLevel.Warning,
  error: LogLevel.Error,
  fatal: LogLevel.Fatal,
  none: LogLevel.None,
  off: LogLevel.None,
}

const logLevel = (name: string) =>
  Config.string(name).pipe(
    Config.mapOrFail((s) => {
      const level = LOG_LEVELS[s.trim().toLowerCase()]
      return level !== undefined
        ? Either.right(level)
        : Either.left(
            ConfigError.InvalidData([], `expected one of ${Object.keys(LOG_LEVELS).join(", ")} (any case), got ${s}`),
          )
    }),
    Config.withDefault(LogLevel.Info),
  )

const duration = (name: string, fallback: number) => millis(name, fallback).pipe(Config.map(Duration.millis))

export const feedConfig = (exchange: ExchangeId) => {
  const prefix = exchange.toUpperCase()
  return Config.all({
    symbols: list(`${prefix}_SYMBOLS`).pipe(
      Config.mapOrFail((xs) => {
        const bad = xs.filter((x) => !Schema.is(UnifiedSymbol)(x))
        if (bad.length > 0)
          return Either.left(
            ConfigError.InvalidData(
              [`${prefix}_SYMBOLS`],
              `${bad.join(", ")} is not BASE/QUOTE (e.g. BTC/USDT) or BASE/QUOTE:SETTLE for a derivative`,
            ),
          )
        if (xs.length === 0) return Either.left(ConfigError.InvalidData([`${prefix}_SYMBOLS`], "lists no symbol"))
        return Either.right(xs)
      }),
      Config.withDefault(VENUES[exchange].defaults.symbols),
    ),
    wsUrl: Config.string(`${prefix}_WS_URL`).pipe(
      Config.validate({ message: "must be a ws:// or wss:// URL", validation: (u) => /^wss?:\/\/[^\s]+$/.test(u) }),
      Config.withDefault(VENUES[exchange].defaults.wsUrl),
    ),
    restUrl: Config.string(`${prefix}_REST_URL`).pipe(
      Config.validate({ message: "must be an http:// or https:// URL", validation: (u) => /^https?:\/\/\S+$/.test(u) }),
      Config.map((u) => u.replace(/\/+$/, "")),
      Config.withDefault(VENUES[exchange].defaults.restUrl),
    ),
    restWeightPerMinute: positive(`${prefix}_REST_WEIGHT_PER_MINUTE`, VENUES[exchange].defaults.restWeightPerMinute),
    settings: VENUES[exchange].settings ?? Config.succeed(undefined),
  }).pipe(Config.map((c): FeedConfig => ({ exchange, ...c })))
}

const feedsConfig = literalList("FEEDS", ExchangeId, ["binance"]).pipe(
  Config.mapOrFail((feeds) => {
    const unsupported = feeds.filter((f) => !SUPPORTED_EXCHANGES.includes(f))
    return unsupported.length === 0
      ? Either.right(feeds)
      : Either.left(
          ConfigError.InvalidData(
            ["FEEDS"],
            `${unsupported.join(", ")} not available in this build (available: ${SUPPORTED_EXCHANGES.join(", ")})`,
          ),
        )
  }),
)

const influxConfig = Config.option(
  Config.all({
    url: Config.string("INFLUX_URL").pipe(
      Config.validate({ message: "must be an http:// or https:// URL", validation: (u) => /^https?:\/\/\S+$/.test(u) }),
    ),
    token: Config.option(Config.redacted("INFLUX_TOKEN")),
    org: Config.string("INFLUX_ORG").pipe(Config.withDefault("neuraltrade")),
    bucket: Config.string("INFLUX_BUCKET").pipe(Config.withDefault("market")),
    batchLines: positive("INFLUX_BATCH_SIZE", 20_000),
    flushInterval: duration("INFLUX_FLUSH_MS", 1_000),
    timeout: duration("INFLUX_TIMEOUT_MS", 10_000),
    gzip: Config.boolean("INFLUX_GZIP").pipe(Config.withDefault(false)),
    deadLetterMaxBytes: positive("INFLUX_DEADLETTER_MAX_MB", 512).pipe(Config.map((mb) => mb * 1024 * 1024)),
  }),
)

const telemetryConfig = Config.option(
  Config.all({
    endpoint: Config.string("OTEL_EXPORTER_OTLP_ENDPOINT").pipe(
      Config.validate({ message: "must be an http:// or https:// URL", validation: (u) => /^https?:\/\/\S+$/.test(u) }),
      Config.map((u) => u.replace(/\/+$/, "")),
    ),
    serviceName: Config.string("OTEL_SERVICE_NAME").pipe(Config.withDefault("neuraltrade-ingest")),
    sampleRatio: Config.number("OTEL_TRACES_SAMPLER_ARG").pipe(
      Config.validate({ message: "must be a ratio between 0 and 1", validation: (r) => r >= 0 && r <= 1 }),
      Config.withDefault(0.1),
    ),
  }),
)

const alertsConfig = Config.all({
  symbolSilentMs: positive("ALERT_SYMBOL_SILENT_MS", 5 * 60_000),
  allSilentMs: positive("ALERT_ALL_SILENT_MS", 2 * 60_000),
  gapUnfilledMs: millis("ALERT_GAP_UNFILLED_MS", 60_000),
})

const backfillConfig = Config.all({
  pollAfterFailures: positive("FEED_POLL_AFTER_FAILURES", 3),
  pollInterval: duration("REST_POLL_INTERVAL_MS", 2_000),
  retryInterval: duration("BACKFILL_RETRY_MS", 30_000),
  restTimeout: duration("REST_TIMEOUT_MS", 10_000),
  reconcileInterval: duration("RECONCILE_INTERVAL_MS", 60_000),
})

const baseConfig = Config.all({
  feeds: feedsConfig,
  timeframes: literalList("TIMEFRAMES", Timeframe, DEFAULT_TIMEFRAMES),
  candleGraceMs: millis("CANDLE_GRACE_MS", 2_000),
  candleEmpty: Config.literal("flat", "skip")("CANDLE_EMPTY").pipe(Config.withDefault("flat")),
  candleAmendHorizonMs: millis("CANDLE_AMEND_HORIZON_MS", 3_600_000),
  candleRepairHorizonMs: millis("CANDLE_REPAIR_HORIZON_MS", 86_400_000),
  historyDays: Config.integer("HISTORY_DAYS").pipe(
    Config.validate({ message: "must be a whole number of days ≥ 0", validation: (n) => n >= 0 }),
    Config.withDefault(0),
  ),
  tradeFutureToleranceMs: millis("TRADE_FUTURE_TOLERANCE_MS", 10_000),
  databaseUrl: Config.option(Config.redacted("DATABASE_URL")),
  fleet: Config.option(
    Config.all({
      name: Config.string("FLEET").pipe(
        Config.validate({
          message: "must be a name of letters, digits, '.', '_' or '-'",
          validation: (n) => /^[\w.-]{1,64}$/.test(n),
        }),
      ),
      member: Config.string("FLEET_MEMBER").pipe(
        Config.withDefault(`${hostname()}:${process.pid}`),
        Config.validate({ message: "must not be empty", validation: (m) => m.length > 0 && m.length <= 200 }),
      ),
      mode: Config.literal("shared", "redundant")("FLEET_MODE").pipe(Config.withDefault("shared")),
      takeoverAfter: Config.integer("FLEET_TAKEOVER_MS").pipe(
        Config.validate({ message: "must be a whole number of milliseconds ≥ 2000", validation: (n) => n >= 2_000 }),
        Config.withDefault(15_000),
        Config.map(Duration.millis),
      ),
    }),
  ),
  rabbitmqUrl: Config.option(Config.redacted("RABBITMQ_URL")),
  redis: Config.option(
    Config.all({
      url: Config.string("REDIS_URL").pipe(
        Config.validate({
          message: "must be a redis:// or rediss:// URL",
          validation: (u) => /^rediss?:\/\/\S*$/.test(u),
        }),
        // The URL may carry a password: redacted from here on.
        Config.map(Redacted.make),
      ),
      quotesPerSecond: positive("REDIS_QUOTES_PER_SECOND", 4),
      primaryExchange: Config.string("REDIS_PRIMARY_EXCHANGE").pipe(Config.withDefault("")),
    }),
  ),
  live: Config.all({
    maxClients: Config.integer("LIVE_MAX_CLIENTS").pipe(
      Config.validate({ message: "must be a whole number ≥ 0 (0 turns /api/live off)", validation: (n) => n >= 0 }),
      Config.withDefault(64),
    ),
    clientBufferBytes: positive("LIVE_CLIENT_BUFFER_BYTES", 1 << 20),
    updatesPerSecond: positive("LIVE_UPDATES_PER_SECOND", 4),
    statusInterval: Config.integer("LIVE_STATUS_INTERVAL_MS").pipe(
      Config.validate({ message: "must be a whole number of milliseconds ≥ 100", validation: (n) => n >= 100 }),
      Config.withDefault(1_000),
      Config.map(Duration.millis),
    ),
    allowedOrigins: list("LIVE_ALLOWED_ORIGINS").pipe(Config.withDefault([])),
  }),
  publishWindow: positive("RABBITMQ_PUBLISH_WINDOW", 512),
  candleSink: Config.literal("direct", "queue")("CANDLE_SINK").pipe(Config.withDefault("direct")),
  ingestionMetricsInterval: Config.integer("INGESTION_METRICS_INTERVAL_MS").pipe(
    Config.validate({ message: "must be a whole number of milliseconds ≥ 1000", validation: (n) => n >= 1_000 }),
    Config.withDefault(60_000),
    Config.map(Duration.millis),
  ),
  retention: Config.all({
    table: Config.string("RETENTION").pipe(
      Config.withDefault(SEED_RETENTION),
      Config.mapOrFail((spec) => {
        const parsed = parseRetention(spec)
        return typeof parsed === "string"
          ? Either.left(ConfigError.InvalidData(["RETENTION"], parsed))
          : Either.right(parsed)
      }),
    ),
    interval: Config.integer("RETENTION_INTERVAL_MS").pipe(
      Config.validate({ message: "must be a whole number of milliseconds ≥ 1000", validation: (n) => n >= 1_000 }),
      Config.withDefault(3_600_000),
      Config.map(Duration.millis),
    ),
    batchRows: positive("RETENTION_BATCH_ROWS", 10_000),
  }),
  indicators: list("INDICATORS").pipe(
    Config.mapOrFail((names) => {
      if (names.length === 1 && names[0]!.toLowerCase() === "none") return Either.right([])
      const bad = names.map(unknownIndicator).filter((e) => e !== undefined)
      return bad.length === 0
        ? Either.right([...new Set(names)])
        : Either.left(ConfigError.InvalidData(["INDICATORS"], `${bad.join("; ")}; or none to turn indicators off`))
    }),
    Config.withDefault(DEFAULT_INDICATORS),
  ),
  influx: influxConfig,
  signalsPrefetch: positive("SIGNALS_PREFETCH", 256),
  signalsKeys: list("SIGNALS_KEYS").pipe(
    Config.validate({ message: "must name at least one routing key", validation: (keys) => keys.length > 0 }),
    Config.withDefault(["signal.new", "signal.high"]),
  ),
  queueType: Config.literal("quorum", "classic")("RABBITMQ_QUEUE_TYPE").pipe(Config.withDefault("quorum")),
  seedTtls: Config.all({
    ticksMs: positive("RABBITMQ_TICKS_TTL_MS", SEED_TTLS.ticksMs),
    ohlcvMs: positive("RABBITMQ_OHLCV_TTL_MS", SEED_TTLS.ohlcvMs),
  }),
  rabbitmqManagementUrl: Config.option(Config.redacted("RABBITMQ_MANAGEMENT_URL")),
  deadLetterPollMs: positive("RABBITMQ_DLQ_POLL_MS", 15_000),
  telemetry: telemetryConfig,
  alerts: alertsConfig,
  backfill: backfillConfig,
  dataDir: Config.string("DATA_DIR").pipe(Config.withDefault("./data")),
  httpPort: Config.port("HTTP_PORT").pipe(Config.withDefault(8080)),
  logLevel: logLevel("LOG_LEVEL"),
  mailboxCapacity: positive("MAILBOX_CAPACITY", 4_096),
  feedBatchWait: duration("FEED_BATCH_MS", 30),
  pingInterval: duration("FEED_PING_INTERVAL_MS", 15_000),
  pongTimeout: duration("FEED_PONG_TIMEOUT_MS", 10_000),
  staleAfter: duration("FEED_STALE_MS", 60_000),
  rotateAfter: Config.option(
    Config.integer("FEED_ROTATE_AFTER_MS").pipe(
      Config.validate({ message: "must be a whole number of milliseconds ≥ 1000", validation: (n) => n >= 1_000 }),
      Config.map(Duration.millis),
    ),
  ),
  rotationOverlap: duration("FEED_ROTATION_OVERLAP_MS", 3_000),
  reconnectBase: duration("FEED_RECONNECT_BASE_MS", 1_000),
  reconnectMax: duration("FEED_RECONNECT_MAX_MS", 60_000),
  healthyAfter: duration("FEED_HEALTHY_AFTER_MS", 30_000),
  storeBatchSize: positive("STORE_BATCH_SIZE", 1_000),
  storeFlushInterval: duration("STORE_FLUSH_MS", 1_000),
  shutdownTimeout: duration("SHUTDOWN_TIMEOUT_MS", 10_000),
  heapGrowingPercent: Config.integer("HEAP_GROWING_PERCENT").pipe(
    Config.validate({ message: "must be a whole percentage from 0 to 400", validation: (n) => n >= 0 && n <= 400 }),
    Config.withDefault(50),
  ),
  sinkBuffer: Config.all({
    memoryRecords: positive("SINK_BUFFER_RECORDS", 40_000),
    diskMaxBytes: Config.number("SINK_DISK_MAX_MB").pipe(
      Config.validate({ message: "must be a number of MiB > 0", validation: (n) => n > 0 }),
      Config.withDefault(1_024),
      Config.map((mb) => Math.floor(mb * 1024 * 1024)),
    ),
  }),
  tickBatch: Config.all({
    max: positive("TICK_BATCH_MAX", 200),
    wait: duration("TICK_BATCH_WAIT_MS", 100),
  }),
})

/** Reads and validates the whole environment; fails with every invalid variable, not only the first. */
export const loadAppConfig: Effect.Effect<AppConfigShape, ConfigError.ConfigError> = Effect.gen(function* () {
  const base = yield* baseConfig
  if (Option.isSome(base.fleet) && Option.isNone(base.databaseUrl))
    return yield* Effect.fail(
      ConfigError.InvalidData(
        ["FLEET"],
        "a fleet coordinates through one PostgreSQL server: set DATABASE_URL on every member, or unset FLEET",
      ),
    )
  const feeds = yield* Config.all(base.feeds.map(feedConfig))
  // The seed's plain `quote:{symbol}` keys are the primary exchange's: the first of FEEDS unless named.
  const redis = Option.map(base.redis, (r) => ({ ...r, primaryExchange: r.primaryExchange || base.feeds[0]! }))
  return { ...base, feeds, redis, timeframes: [...new Set(base.timeframes)] }
})

/** One line per invalid variable, e.g. `HTTP_PORT: Expected a valid port …, but received: abc`. */
export const describeConfigError = (error: ConfigError.ConfigError): string => {
  const lines: Array<string> = []
  const walk = (e: ConfigError.ConfigError): void => {
    switch (e._op) {
      case "And":
      case "Or":
        walk(e.left)
        walk(e.right)
        return
      case "InvalidData":
      case "MissingData":
      case "SourceUnavailable":
      case "Unsupported":
        lines.push(`${e.path.join("_")}: ${e.message}`)
        return
    }
  }
  walk(error)
  return [...new Set(lines)].join("; ")
}

export const AppConfigLive = Layer.effect(
  AppConfig,
  Effect.mapError(
    loadAppConfig,
    (e) => new ConfigInvalid({ message: `invalid configuration: ${describeConfigError(e)}` }),
  ),
)

/** For the fatal-error reporter: the one-line message of a configuration failure, if that is what the cause is. */
export const configFailure = (cause: Cause.Cause<unknown>): string | undefined =>
  Option.getOrUndefined(
    Option.flatMap(Cause.failureOption(cause), (e) =>
      e instanceof ConfigInvalid ? Option.some(e.message) : Option.none(),
    ),
  )

/** What the candle path of every symbol is configured with, live and in history imports alike. */
export const pipelineOptions = (config: AppConfigShape): PipelineOptions => ({
  timeframes: config.timeframes,
  graceMs: config.candleGraceMs,
  emptyCandles: config.candleEmpty,
  amendHorizonMs: config.candleAmendHorizonMs,
  repairHorizonMs: Math.max(
    config.candleRepairHorizonMs,
    config.candleAmendHorizonMs,
    longestPeriodMs(config.timeframes),
  ),
  futureToleranceMs: config.tradeFutureToleranceMs,
})
