import type { IncomingMessage } from "node:http"
import type { Duplex } from "node:stream"
import { Effect, Metric, Runtime } from "effect"
import { WebSocket, WebSocketServer } from "ws"
import type { Candle } from "../schema/Candle.js"
import { AppConfig } from "./AppConfig.js"
import { Health } from "./Health.js"
import * as Metrics from "./Metrics.js"

export const LIVE_PATH = "/api/live"

/** What a page sends: `{"watch":{…}}`, a few hundred bytes at most; anything longer is refused by `ws` (1009). */
const MAX_CLIENT_MESSAGE_BYTES = 1_024
/** How long a dropped client has to read its close frame before its socket is destroyed. */
const CLOSE_GRACE_MS = 5_000
/** Pings find connections that died without a close (a laptop lid shut); browsers answer them by themselves. */
const PING_INTERVAL_MS = 30_000

/** The close code of a client dropped for reading too slowly (4000–4999: the application's own). */
export const CLOSE_TOO_SLOW = 4_008

export interface Watch {
  readonly exchange: string
  readonly symbol: string
  readonly timeframe: string
}

export const watchKey = (w: Watch): string => `${w.exchange}\u0000${w.symbol}\u0000${w.timeframe}`

interface Client {
  readonly ws: WebSocket
  readonly remote: string
  watch: Watch | undefined
  alive: boolean
}

/**
 * The live page's fan-out over one WebSocket endpoint, `/api/live` on HTTP_PORT. Every push is a non-blocking
 * `send` to each client: a client whose unread bytes pass LIVE_CLIENT_BUFFER_BYTES is dropped with close code 4008
 * and a reason, so a slow page costs its own connection and never the pipeline. Browsers may connect from the page's
 * own origin or LIVE_ALLOWED_ORIGINS; at most LIVE_MAX_CLIENTS at a time; messages from a client are 1 KiB at most.
 *
 * Server → client, JSON: `hello` (feeds, timeframes), `status` (`/api/status` every LIVE_STATUS_INTERVAL_MS),
 * `open` (the watched open candle, at most LIVE_UPDATES_PER_SECOND), `candle` (final candles and revisions of the
 * watched series). Client → server: `{"watch":{"exchange","symbol","timeframe"}}`.
 */
export class LiveHub extends Effect.Service<LiveHub>()("ingestd/LiveHub", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const settings = config.live
    const health = yield* Health
    const runtime = yield* Effect.runtime()
    const run = Runtime.runFork(runtime)
    const clients = new Set<Client>()
    const watchers = new Map<string, Set<Client>>()
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_MESSAGE_BYTES, perMessageDeflate: false })
    const known = new Map(config.feeds.map((f) => [f.exchange as string, new Set(f.symbols)]))
    const hello = JSON.stringify({
      type: "hello",
      feeds: config.feeds.map((f) => ({ exchange: f.exchange, symbols: f.symbols })),
      timeframes: config.timeframes,
      updatesPerSecond: settings.updatesPerSecond,
    })

    const unwatch = (c: Client) => {
      if (c.watch === undefined) return
      const key = watchKey(c.watch)
      const set = watchers.get(key)
      set?.delete(c)
      if (set?.size === 0) watchers.delete(key)
      c.watch = undefined
    }

    const drop = (c: Client, code: number, reason: string) => {
      unwatch(c)
      clients.delete(c)
      c.ws.close(code, reason)
      setTimeout(() => c.ws.terminate(), CLOSE_GRACE_MS).unref()
    }

    const send = (c: Client, message: string) => {
      if (c.ws.readyState !== WebSocket.OPEN) return
      if (c.ws.bufferedAmount + message.length > settings.clientBufferBytes) {
        const unread = c.ws.bufferedAmount
        drop(c, CLOSE_TOO_SLOW, `client too slow: ${unread} bytes unread`)
        run(
          Effect.zipRight(
            Metric.increment(Metrics.liveClientsDropped),
            Effect.logWarning(
              `live client ${c.remote} dropped: ${unread} bytes unread, over LIVE_CLIENT_BUFFER_BYTES=${settings.clientBufferBytes}; the page reconnects by itself`,
            ),
          ),
        )
        return
      }
      c.ws.send(message)
    }

    /** To every client watching the series. */
    const toWatchers = (watch: Watch, message: string) => {
      const set = watchers.get(watchKey(watch))
      if (set !== undefined) for (const c of [...set]) send(c, message)
    }

    const onMessage = (c: Client, data: string) => {
      const watch = (() => {
        try {
          return (JSON.parse(data) as { watch?: Watch }).watch
        } catch {
          return undefined
        }
      })()
      if (
        watch === undefined ||
        typeof watch.exchange !== "string" ||
        typeof watch.symbol !== "string" ||
        typeof watch.timeframe !== "string"
      )
        return drop(c, 1008, 'expected {"watch":{"exchange","symbol","timeframe"}}')
      if (!known.get(watch.exchange)?.has(watch.symbol) || !config.timeframes.includes(watch.timeframe as never))
        return send(
          c,
          JSON.stringify({
            type: "error",
            message: `not ingested here: ${watch.exchange} ${watch.symbol} ${watch.timeframe}`,
          }),
        )
      unwatch(c)
      c.watch = { exchange: watch.exchange, symbol: watch.symbol, timeframe: watch.timeframe }
      const key = watchKey(c.watch)
      const set = watchers.get(key) ?? new Set()
      set.add(c)
      watchers.set(key, set)
    }

    const accept = (ws: WebSocket, remote: string) => {
      const c: Client = { ws, remote, watch: undefined, alive: true }
      clients.add(c)
      ws.on("message", (data, isBinary) => (isBinary ? drop(c, 1003, "text frames only") : onMessage(c, String(data))))
      ws.on("pong", () => (c.alive = true))
      ws.on("error", () => undefined)
      ws.on("close", () => {
        unwatch(c)
        clients.delete(c)
      })
      send(c, hello)
    }

    const pinger = setInterval(() => {
      for (const c of clients) {
        if (!c.alive) {
          drop(c, 1001, "no answer to ping")
          continue
        }
        c.alive = false
        c.ws.ping()
      }
    }, PING_INTERVAL_MS)
    /**
     * Closes every client (1001), giving each a second to answer. The HTTP server cannot close while an upgraded
     * socket is open, so it runs before the server closes (Http.ts) and again, for any latecomer, at release.
     */
    const closeAll = Effect.async<void>((resume) => {
      clearInterval(pinger)
      const open = [...wss.clients]
      clients.clear()
      watchers.clear()
      if (open.length === 0) return resume(Effect.void)
      let pending = open.length
      const done = () => {
        if (--pending === 0) {
          clearTimeout(timer)
          resume(Effect.void)
        }
      }
      const timer = setTimeout(() => {
        for (const ws of open) ws.terminate()
      }, 1_000)
      for (const ws of open) {
        ws.once("close", done)
        ws.close(1001, "daemon shutting down")
      }
    })
    yield* Effect.addFinalizer(() =>
      Effect.zipRight(
        closeAll,
        Effect.async<void>((resume) => wss.close(() => resume(Effect.void))),
      ),
    )

    /** A browser's Origin must be the page's own (same host) or allowed; tools without one are not browsers. */
    const originAllowed = (req: IncomingMessage) => {
      const origin = req.headers.origin
      if (origin === undefined) return true
      if (settings.allowedOrigins.includes("*") || settings.allowedOrigins.includes(origin)) return true
      try {
        return new URL(origin).host === req.headers.host
      } catch {
        return false
      }
    }

    yield* health.watchGauges(Effect.suspend(() => Metric.set(Metrics.liveClients, clients.size)))

    const refuse = (socket: Duplex, status: string, reason: string, why: string) => {
      socket.end(`HTTP/1.1 ${status}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${why}\n`)
      run(Metric.increment(Metric.tagged(Metrics.liveRefused, "reason", reason)))
    }

    return {
      closeAll,
      /** Whether an upgrade request is this endpoint's. */
      claims: (req: IncomingMessage) => (req.url ?? "").split("?")[0] === LIVE_PATH,
      upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        if (settings.maxClients === 0)
          return refuse(socket, "404 Not Found", "off", "/api/live is off (LIVE_MAX_CLIENTS=0)")
        if (!originAllowed(req))
          return refuse(
            socket,
            "403 Forbidden",
            "origin",
            `origin ${req.headers.origin} may not connect; add it to LIVE_ALLOWED_ORIGINS`,
          )
        if (clients.size >= settings.maxClients)
          return refuse(
            socket,
            "503 Service Unavailable",
            "full",
            `${settings.maxClients} live clients already (LIVE_MAX_CLIENTS)`,
          )
        wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req.socket.remoteAddress ?? "unknown"))
      },
      clients: () => clients.size,
      /** The series some client watches, and by how many clients. */
      watched: (): Array<{ readonly watch: Watch; readonly clients: number }> =>
        [...watchers.values()].flatMap((set) => {
          const watch = [...set][0]?.watch
          return watch === undefined ? [] : [{ watch, clients: set.size }]
        }),
      /** To every client watching the series. */
      toWatchers,
      /** Final candles and revisions, to the clients watching their series. */
      candles: (candles: ReadonlyArray<Candle>) => {
        if (watchers.size === 0) return
        for (const candle of candles)
          if (watchers.has(watchKey(candle))) toWatchers(candle, JSON.stringify({ type: "candle", candle }))
      },
      broadcast: (message: string) => {
        for (const c of [...clients]) send(c, message)
      },
    } as const
  }),
}) {}
