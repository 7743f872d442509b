import { createServer } from "node:http"
import { isoOrNumber } from "../domain/Limits.js"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, Layer, Option, Schema } from "effect"
import { Timeframe } from "../schema/Candle.js"
import { ExchangeId } from "../schema/Market.js"
import { Aggregators } from "../actors/Aggregators.js"
import { Sinks } from "../actors/Sinks.js"
import { Alerts } from "../actors/Alerts.js"
import { DeadLetterWatch } from "../actors/DeadLetterWatch.js"
import { AppConfig } from "./AppConfig.js"
import { CandleStore } from "./CandleStore.js"
import { Health } from "./Health.js"
import { renderPrometheus } from "./Prometheus.js"

const Millis = Schema.NumberFromString.pipe(Schema.int(), Schema.nonNegative())

const CandlesParams = Schema.Struct({
  exchange: ExchangeId,
  symbol: Schema.String,
  timeframe: Timeframe,
  from: Schema.optional(Millis),
  to: Schema.optional(Millis),
  limit: Schema.optionalWith(Millis.pipe(Schema.between(1, 10_000)), { default: () => 1_000 }),
})

const badRequest = (message: string) => HttpServerResponse.unsafeJson({ error: message }, { status: 400 })

const iso = (ms: number | undefined) => (ms === undefined ? null : isoOrNumber(ms))

/**
 * Each feed with its connections and, per symbol, what it delivered (last trade, rate, gaps) beside its row in
 * `ingestion_status`; then every other component's health, each sink's buffers, and the open data-quality incidents. A database that
 * cannot be read leaves the rest of the answer intact and says so.
 */
const status = Effect.gen(function* () {
  const config = yield* AppConfig
  const report = yield* (yield* Health).report
  const { ports } = yield* Aggregators
  const incidents = yield* (yield* Alerts).open
  const sinks = (yield* Sinks).status()
  const deadLetters = yield* (yield* DeadLetterWatch).status
  const stored = yield* (yield* CandleStore).ingestionStatus.pipe(
    Effect.either,
    Effect.tap((r) => (r._tag === "Left" ? Effect.logWarning("ingestion_status query failed", r.left) : Effect.void)),
  )
  const rows = stored._tag === "Right" ? stored.right : []
  const silent = new Set(incidents.filter((n) => n.rule === "symbol_silent").map((n) => `${n.exchange}:${n.symbol}`))
  const isFeed = (exchange: string) => (name: string) =>
    name === `feed:${exchange}` || name.startsWith(`feed:${exchange}#`)
  const feeds = config.feeds.map((feed) => ({
    exchange: feed.exchange,
    connections: Object.entries(report.components)
      .filter(([name]) => isFeed(feed.exchange)(name))
      .map(([name, c]) => ({ name, ...c, since: iso(c.since) })),
    symbols: (ports.get(feed.exchange)?.stats.all() ?? []).map((s) => ({
      symbol: s.symbol,
      state: silent.has(`${feed.exchange}:${s.symbol}`)
        ? "silent"
        : s.lastTradeAt === undefined
          ? "waiting"
          : "trading",
      lastTradeAt: iso(s.lastTradeAt),
      lastExchangeTime: iso(s.lastExchangeTs),
      trades: s.trades,
      ratePerSec: Math.round(s.ratePerSec * 100) / 100,
      gaps: s.gaps,
      missingTrades: s.missingTrades,
      lastGapAt: iso(s.lastGapAt),
      // Candles overlapping an unfilled gap are stored with complete=false until the backfill brings it in.
      backfill: {
        unfilledGaps: s.unfilledGaps,
        unfilledSince: iso(s.unfilledSince),
        state: s.backfill,
        error: s.backfillError ?? null,
        trades: s.backfilledTrades,
      },
      mode: s.mode,
      // Our final 1m candles against the exchange's own; null where the exchange publishes none.
      reconciliation:
        ports.get(feed.exchange)?.due === undefined
          ? null
          : {
              checked: s.reconciled,
              mismatched: s.mismatched,
              lastCheckedMinute: iso(s.lastReconciledMinute),
              lastMismatch:
                s.lastMismatch === undefined
                  ? null
                  : { minute: iso(s.lastMismatch.minute), fields: s.lastMismatch.fields },
            },
      ingestion: rows.filter((r) => r.exchange === feed.exchange && r.symbol === s.symbol),
    })),
  }))
  const others = Object.fromEntries(
    Object.entries(report.components)
      .filter(([name]) => !name.startsWith("feed:"))
      .map(([name, c]) => [name, { ...c, since: iso(c.since) }]),
  )
  return {
    ready: report.ready,
    unhealthy: report.unhealthy,
    feeds,
    components: others,
    sinks,
    // The dead-letter queues' depths and whether a bound caps them; null without a broker.
    deadLetters: Option.getOrNull(deadLetters),
    alerts: incidents,
    ...(stored._tag === "Left" ? { ingestionStatusError: "store unavailable" } : {}),
  }
})

const router = HttpRouter.empty.pipe(
  HttpRouter.get("/healthz", HttpServerResponse.json({ status: "ok" })),
  HttpRouter.get(
    "/readyz",
    Effect.gen(function* () {
      const report = yield* (yield* Health).report
      return yield* HttpServerResponse.json(report, { status: report.ready ? 200 : 503 })
    }),
  ),
  HttpRouter.get(
    "/metrics",
    Effect.map(
      Effect.zipRight(
        Effect.flatMap(Health, (h) => h.sample),
        renderPrometheus,
      ),
      (body) => HttpServerResponse.text(body, { contentType: "text/plain; version=0.0.4; charset=utf-8" }),
    ),
  ),
  HttpRouter.get(
    "/api/status",
    Effect.flatMap(status, (body) => HttpServerResponse.json(body)),
  ),
  HttpRouter.get(
    "/api/candles",
    Effect.gen(function* () {
      const params = yield* HttpServerRequest.schemaSearchParams(CandlesParams)
      const candles = yield* (yield* CandleStore).query(params)
      return yield* HttpServerResponse.json({ candles })
    }).pipe(
      Effect.catchTags({
        ParseError: (e) =>
          Effect.succeed(
            badRequest(`${e.message.replace(/\s+/g, " ")}; expected exchange, symbol, timeframe[, from, to, limit]`),
          ),
        SqlError: (e) =>
          Effect.zipRight(
            Effect.logError("candle query failed", e),
            Effect.succeed(HttpServerResponse.unsafeJson({ error: "store unavailable" }, { status: 503 })),
          ),
      }),
    ),
  ),
)

/** Health, readiness, Prometheus metrics and the candle API on HTTP_PORT. */
export const HttpLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    HttpServer.serve(router).pipe(
      HttpServer.withLogAddress,
      Layer.provide(NodeHttpServer.layer(createServer, { port: config.httpPort, host: "0.0.0.0" })),
    ),
  ),
)
