import { createServer } from "node:http"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect, Layer, Schema } from "effect"
import { Timeframe } from "../schema/Candle.js"
import { ExchangeId } from "../schema/Market.js"
import { AppConfig } from "./AppConfig.js"
import { CandleStore } from "./CandleStore.js"
import { Health } from "./Health.js"
import { IndicatorStore } from "./IndicatorStore.js"
import { renderPrometheus } from "./Prometheus.js"
import { StatusView } from "./StatusView.js"

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

/** A read of the store by exchange, symbol, timeframe and range: 400 naming the parameters, 503 when it is down. */
const storeQuery = <A, R>(
  what: string,
  run: (params: typeof CandlesParams.Type) => Effect.Effect<Effect.Effect<A, SqlError.SqlError>, never, R>,
  key: string,
) =>
  Effect.gen(function* () {
    const params = yield* HttpServerRequest.schemaSearchParams(CandlesParams)
    const rows = yield* Effect.flatten(run(params))
    return yield* HttpServerResponse.json({ [key]: rows })
  }).pipe(
    Effect.catchTags({
      ParseError: (e) =>
        Effect.succeed(
          badRequest(`${e.message.replace(/\s+/g, " ")}; expected exchange, symbol, timeframe[, from, to, limit]`),
        ),
      SqlError: (e) =>
        Effect.zipRight(
          Effect.logError(`${what} query failed`, e),
          Effect.succeed(HttpServerResponse.unsafeJson({ error: "store unavailable" }, { status: 503 })),
        ),
    }),
  )

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
    Effect.flatMap(StatusView, (view) => Effect.flatMap(view.status, (body) => HttpServerResponse.json(body))),
  ),
  HttpRouter.get(
    "/api/candles",
    storeQuery("candle", (params) => Effect.map(CandleStore, (store) => store.query(params)), "candles"),
  ),
  HttpRouter.get(
    "/api/indicators",
    storeQuery("indicator", (params) => Effect.map(IndicatorStore, (store) => store.query(params)), "indicators"),
  ),
)

/** Health, readiness, Prometheus metrics and the candle and indicator API on HTTP_PORT. */
export const HttpLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    HttpServer.serve(router).pipe(
      HttpServer.withLogAddress,
      Layer.provide(NodeHttpServer.layer(createServer, { port: config.httpPort, host: "0.0.0.0" })),
    ),
  ),
)
