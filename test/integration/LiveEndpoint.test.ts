import { afterAll, beforeAll, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { expectedFinals, sentOf, untilStoredComplete } from "../support/candles.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import { scratchDatabase } from "../support/postgres.js"

const GRACE_MS = 1_000
/** Enough symbols that each status message is tens of kilobytes, pushed ten times a second. */
const SYMBOLS = Array.from({ length: 20 }, (_, i) => `S${i}/USDT`)

interface Message {
  readonly type: string
  readonly candle?: { readonly symbol: string; readonly timeframe: string; readonly isFinal: boolean }
  readonly candles?: ReadonlyArray<{ readonly isFinal: boolean; readonly close: string }>
}

/**
 * Opens a client; `onMessage` is attached before the upgrade completes, because the server's hello can arrive in the
 * upgrade's own TCP segment and be emitted before an awaited `open` continues.
 */
const open = (url: string, headers: Record<string, string> = {}, onMessage?: (data: WebSocket.RawData) => void) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    if (onMessage) ws.on("message", onMessage)
    ws.once("open", () => resolve(ws))
    ws.once("error", reject)
  })

/** The HTTP status an upgrade was refused with. */
const refusal = (url: string, headers: Record<string, string>) =>
  new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(url, { headers })
    ws.once("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0))
    ws.once("open", () => reject(new Error("the upgrade was accepted")))
  })

const closed = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  )

describe("the live endpoint /api/live: fan-out with a bounded buffer per client", () => {
  const db = scratchDatabase("ingest_live")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it("a client that stops reading is dropped with close code 4008 and a reason, while a reading client gets open and final candles and every candle reaches PostgreSQL; origins and message sizes are limited", async () => {
    const url = await db.create()
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const spec = {
      symbols: SYMBOLS,
      // Four minutes of exchange time, played in 40 s: three 1m candles of every symbol become final.
      rate: 100,
      count: 24_000,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 5 * 60_000,
      seed: 11,
    }
    const sent = sentOf("binance", spec)
    server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 6 } })
    const daemon = startDaemon(
      {
        FEEDS: "binance",
        BINANCE_SYMBOLS: SYMBOLS.join(","),
        BINANCE_WS_URL: server.url("binance"),
        BINANCE_REST_URL: server.restUrl("binance"),
        DATABASE_URL: url,
        HTTP_PORT: String(httpPort),
        CANDLE_GRACE_MS: String(GRACE_MS),
        RECONCILE_INTERVAL_MS: "0",
        LIVE_STATUS_INTERVAL_MS: "100",
        LIVE_UPDATES_PER_SECOND: "10",
        LIVE_CLIENT_BUFFER_BYTES: String(128 * 1024),
        LIVE_MAX_CLIENTS: "3",
      },
      process.cwd(),
    )
    const live = `ws://127.0.0.1:${httpPort}/api/live`
    try {
      await until("the daemon's HTTP server", () =>
        fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      )
      // A page of another site may not connect; one of the daemon's own origin may, and so may a tool without one.
      expect(await refusal(live, { origin: "http://evil.example" })).toBe(403)
      const messages: Array<Message> = []
      const reader = await open(live, { origin: `http://127.0.0.1:${httpPort}` }, (d) =>
        messages.push(JSON.parse(String(d)) as Message),
      )
      reader.send(JSON.stringify({ watch: { exchange: "binance", symbol: "S1/USDT", timeframe: "1m" } }))

      const slow = await open(live)
      slow.send(JSON.stringify({ watch: { exchange: "binance", symbol: "S2/USDT", timeframe: "1m" } }))
      const slowClosed = closed(slow)
      const socket = (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket
      socket.pause()

      // A message over 1 KiB is refused by closing with 1009 (too big).
      const big = await open(live)
      const bigClosed = closed(big)
      big.send(JSON.stringify({ watch: { exchange: "binance", symbol: "x".repeat(2_000), timeframe: "1m" } }))
      expect((await bigClosed).code).toBe(1009)

      await until(
        "the slow client dropped",
        async () =>
          /^live_clients_dropped_total 1$/m.test(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()),
        60_000,
      )
      socket.resume()
      const close = await slowClosed
      expect(close.code).toBe(4008)
      expect(close.reason).toMatch(/too slow: \d+ bytes unread/)
      expect(daemon.output()).toMatch(/live client .* dropped: \d+ bytes unread, over LIVE_CLIENT_BUFFER_BYTES=131072/)

      await until("the tape played out", () => server.venue("binance").done, 90_000)
      await untilStoredComplete(url, expectedFinals(sent, GRACE_MS))

      // The reading client was never dropped: it saw the hello, statuses, its series' open candle moving and finals.
      expect(reader.readyState).toBe(WebSocket.OPEN)
      expect(messages[0]?.type).toBe("hello")
      expect(messages.filter((m) => m.type === "status").length).toBeGreaterThan(10)
      const opens = messages.filter((m) => m.type === "open").map((m) => m.candles!.at(-1)!)
      expect(opens.every((c) => !c.isFinal)).toBe(true)
      expect(new Set(opens.map((c) => c.close)).size).toBeGreaterThan(5)
      const finals = messages.filter((m) => m.type === "candle").map((m) => m.candle!)
      expect(finals.length).toBeGreaterThanOrEqual(3)
      expect(finals.every((c) => c.symbol === "S1/USDT" && c.timeframe === "1m" && c.isFinal)).toBe(true)
      expect(await metric(httpPort, "live_connections_refused_total", 'reason="origin"')).toBe(1)
      reader.close()
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 240_000)
})
