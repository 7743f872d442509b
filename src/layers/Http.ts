import { readdirSync, readFileSync } from "node:fs"
import { type IncomingMessage, Server } from "node:http"
import type { Duplex } from "node:stream"
import { extname } from "node:path"
import { fileURLToPath } from "node:url"
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
import { LiveHub } from "./LiveHub.js"
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

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
}

/** The live page's files, built by `npm run build` into dist/web beside this module's folder; none under tsx. */
const WEB_DIR = fileURLToPath(new URL("../web/", import.meta.url))

const readWeb = (): ReadonlyMap<string, Uint8Array> => {
  try {
    return new Map(readdirSync(WEB_DIR).map((name) => [name, new Uint8Array(readFileSync(WEB_DIR + name))]))
  } catch {
    return new Map()
  }
}

/** Everything the page loads comes from this daemon: no CDN, no inline script, no framing by other sites. */
const PAGE_HEADERS = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
}

const staticFile = (files: ReadonlyMap<string, Uint8Array>, name: string) => {
  const body = files.get(name)
  if (body === undefined)
    return HttpServerResponse.text(
      files.size === 0 ? "the live page is not built here: run npm run build\n" : "not found\n",
      { status: 404 },
    )
  return HttpServerResponse.uint8Array(body, {
    contentType: CONTENT_TYPES[extname(name)] ?? "application/octet-stream",
    headers: PAGE_HEADERS,
  })
}

const router = (files: ReadonlyMap<string, Uint8Array>) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/", staticFile(files, "index.html")),
    HttpRouter.get(
      "/assets/:name",
      Effect.flatMap(HttpRouter.params, (params) => staticFile(files, params.name ?? "")),
    ),
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

/**
 * The HTTP server, with `/api/live` upgrades taken before the router sees them: the live endpoint is a plain `ws`
 * server, which can tell how much each client left unread (the router's sockets cannot).
 */
class DaemonServer extends Server {
  constructor(private readonly live: LiveHub) {
    super()
  }

  override emit(event: string, ...args: Array<unknown>): boolean {
    if (event === "upgrade" && this.live.claims(args[0] as IncomingMessage)) {
      this.live.upgrade(args[0] as IncomingMessage, args[1] as Duplex, args[2] as Buffer)
      return true
    }
    return super.emit(event, ...args)
  }
}

/** Health, readiness, Prometheus metrics, the candle and indicator API and the live page on HTTP_PORT. */
export const HttpLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    const live = yield* LiveHub
    return HttpServer.serve(router(readWeb())).pipe(
      HttpServer.withLogAddress,
      // Released before the server, whose close waits for the live pages' sockets.
      Layer.merge(Layer.scopedDiscard(Effect.addFinalizer(() => live.closeAll))),
      Layer.provide(NodeHttpServer.layer(() => new DaemonServer(live), { port: config.httpPort, host: "0.0.0.0" })),
    )
  }),
)
