import { Duration, Effect, Option, Redacted, Schedule } from "effect"
import { Redis } from "ioredis"
import { tickOf } from "../../../domain/Enrichment.js"
import { QuoteBoard, quoteHash, quoteMessage } from "../../../domain/QuoteBoard.js"
import { AppConfig } from "../../../layers/AppConfig.js"
import { Health } from "../../../layers/Health.js"
import type { SinkPlugin } from "../registry.js"

const QUOTE_TTL_SECONDS = 60
/** Alerts kept for a Redis that is down; past this the oldest go (they are logged and on RabbitMQ all the same). */
const PENDING_ALERTS_MAX = 1_000

/**
 * Real-time quotes in Redis (REDIS_URL), the seed's cache: per exchange and symbol the newest tick goes to the hash
 * `quote:{exchange}:{BASE/QUOTE}` (and `quote:{BASE/QUOTE}` for REDIS_PRIMARY_EXCHANGE), 60 s TTL, and to the
 * `quotes` channel, at most REDIS_QUOTES_PER_SECOND times a second per symbol, one pipeline per publication. A cache
 * never holds anything back: taking a tick only replaces the symbol's pending one, and during a Redis outage the
 * pending quotes are retried each interval and superseded ones are lost, as they would be anyway. Data-quality
 * alerts go to the `alerts` channel in the same pipelines, the notification JSON of `neuraltrade.notifications`;
 * unlike quotes none supersedes another, so they wait for a Redis that is down, up to PENDING_ALERTS_MAX.
 */
export const RedisSink = {
  name: "redis",
  make: Effect.gen(function* () {
    const config = yield* AppConfig
    if (Option.isNone(config.redis)) return undefined
    const settings = config.redis.value
    const health = yield* Health
    const client = yield* Effect.acquireRelease(
      Effect.sync(
        () =>
          new Redis(Redacted.value(settings.url), {
            // Commands fail at once while disconnected instead of queueing: the next interval has newer quotes.
            enableOfflineQueue: false,
            maxRetriesPerRequest: 0,
            retryStrategy: (attempt) => Math.min(attempt * 200, 5_000),
            lazyConnect: false,
          }),
      ),
      (c) =>
        Effect.promise(() =>
          c.quit().then(
            () => undefined,
            () => c.disconnect(),
          ),
        ),
    )
    client.on("error", () => undefined)
    const board = new QuoteBoard()
    const primary = settings.primaryExchange
    let alerts: Array<string> = []
    let down = false

    const publish = Effect.gen(function* () {
      const ticks = board.take()
      const sending = alerts
      if (ticks.length === 0 && sending.length === 0) return
      alerts = []
      const pipeline = client.pipeline()
      for (const a of sending) pipeline.publish("alerts", a)
      for (const t of ticks) {
        const hash = quoteHash(t)
        for (const key of t.exchange === primary
          ? [`quote:${t.exchange}:${t.symbol}`, `quote:${t.symbol}`]
          : [`quote:${t.exchange}:${t.symbol}`]) {
          pipeline.hset(key, hash)
          pipeline.expire(key, QUOTE_TTL_SECONDS)
        }
        pipeline.publish("quotes", quoteMessage(t))
      }
      const failed = yield* Effect.tryPromise(() => pipeline.exec()).pipe(
        Effect.map((results) => results?.find(([error]) => error !== null)?.[0] ?? undefined),
        Effect.catchAll((e) => Effect.succeed(e.cause as Error)),
      )
      if (failed === undefined) {
        if (down) yield* Effect.logInfo("Redis is back: quotes and alerts are published again")
        down = false
        return yield* health.set("sink:redis", "up")
      }
      board.restore(ticks)
      alerts = [...sending, ...alerts].slice(-PENDING_ALERTS_MAX)
      const detail = `Redis unavailable (${failed.message}); quotes are retried each interval`
      // Logged once per outage: the retries every interval would otherwise flood the log.
      if (!down)
        yield* Effect.logWarning(
          `${detail}, newer ones replacing older; alerts wait (up to ${PENDING_ALERTS_MAX}). Check REDIS_URL and the server`,
        )
      down = true
      yield* health.set("sink:redis", "down", detail)
    })
    const interval = Duration.millis(Math.max(1, Math.floor(1_000 / settings.quotesPerSecond)))
    yield* Effect.forkScoped(Effect.repeat(publish, Schedule.spaced(interval)))
    yield* health.set("sink:redis", "up")
    yield* Effect.logInfo(
      `Redis quotes on ${new URL(Redacted.value(settings.url)).host}, at most ${settings.quotesPerSecond} a second per symbol, primary exchange ${primary}`,
    )
    return {
      name: "redis",
      status: () => ({
        name: "redis",
        memoryRecords: board.size,
        memoryCapacity: Number.POSITIVE_INFINITY,
        diskRecords: 0,
        diskBytes: 0,
        diskMaxBytes: 0,
        backPressure: false,
        writing: 0,
      }),
      ticks: (ts) => Effect.sync(() => ts.forEach((t) => board.offer(tickOf(t)))),
      alerts: (ns) =>
        Effect.sync(() => {
          alerts.push(...ns.map((n) => JSON.stringify(n)))
          if (alerts.length > PENDING_ALERTS_MAX) alerts = alerts.slice(-PENDING_ALERTS_MAX)
        }),
    }
  }),
} satisfies SinkPlugin
