import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { expectCandlesMatch, expectedFinals, finalsOverHttp, type Sent, sentOf } from "../support/candles.js"
import { type Daemon, freePort, startDaemon, until } from "../support/daemon.js"
import { query, scratchDatabase, storedCandles } from "../support/postgres.js"
import { scrape, total } from "../support/prometheus.js"
import { recordedSession } from "../support/session.js"

const GRACE_MS = 2_000

interface SymbolStatus {
  symbol: string
  backfill: { unfilledGaps: number; state: string; error: string | null; trades: number }
  mode: string
}

const symbolStatus = async (httpPort: number): Promise<Array<SymbolStatus>> => {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/status`).catch(() => undefined)
  if (res === undefined) return []
  const body = (await res.json()) as { feeds: Array<{ symbols: Array<SymbolStatus> }> }
  return body.feeds.flatMap((f) => f.symbols)
}

const daemonEnv = (server: ReplayServer, databaseUrl: string, httpPort: number, symbols: ReadonlyArray<string>) => ({
  FEEDS: "binance",
  BINANCE_SYMBOLS: symbols.join(","),
  BINANCE_TRADE_STREAM: "aggTrade",
  BINANCE_WS_URL: server.url("binance"),
  BINANCE_REST_URL: server.restUrl("binance"),
  DATABASE_URL: databaseUrl,
  HTTP_PORT: String(httpPort),
  CANDLE_GRACE_MS: String(GRACE_MS),
  FEED_RECONNECT_BASE_MS: "100",
  FEED_RECONNECT_MAX_MS: "1000",
  FEED_POLL_AFTER_FAILURES: "1000",
  STORE_FLUSH_MS: "100",
})

/** Waits until the daemon's own API reports every candle that must be final, and no gap left to fill. */
const settled = async (httpPort: number, sent: Sent) => {
  const finals = expectedFinals(sent, GRACE_MS)
  await until(
    "every final candle stored and every gap filled",
    async () => {
      const got = await finalsOverHttp(httpPort, sent).catch(() => new Set<string>())
      if (![...finals].every((k) => got.has(k))) return false
      return (await symbolStatus(httpPort)).every((s) => s.backfill.unfilledGaps === 0)
    },
    60_000,
  )
}

const stop = async (daemon: Daemon) => {
  daemon.process.kill("SIGTERM")
  expect(await daemon.exit).toBe(0)
}

/** Plays the recorded session at twice its pace once the daemon has subscribed; the tape does not wait for it. */
const playWhenSubscribed = async (server: ReplayServer) => {
  const { tape, sent } = recordedSession()
  const venue = server.venue("binance")
  await until("the daemon to subscribe", () => venue.readyClients() > 0, 30_000)
  server.play("binance", tape, { pace: { mode: "paced", speed: 2 }, hold: false })
  return { tape, sent, venue }
}

describe("no gaps: backfill from the exchange's REST history", () => {
  const db = scratchDatabase("ingest_backfill")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  const outage = (pollAfterFailures: number) => async () => {
    const url = await db.create()
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const { sent } = recordedSession()
    const daemon = startDaemon(
      {
        ...daemonEnv(server, url, httpPort, [...sent.trades.keys()]),
        FEED_POLL_AFTER_FAILURES: String(pollAfterFailures),
      },
      process.cwd(),
    )
    try {
      const { tape, venue } = await playWhenSubscribed(server)
      await until("a third of the tape", () => venue.sent > tape.length / 3, 60_000)
      venue.outage(20_000)
      await until("the tape to end", () => venue.done, 120_000)
      await settled(httpPort, sent)
      await stop(daemon)
      expectCandlesMatch(await storedCandles(url), sent, GRACE_MS)
      const revised = await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM ohlcv_candles WHERE revision > 0")
      expect(revised[0]!.n).toBeGreaterThan(0)
      expect(daemon.output()).toContain("backfilled")
      if (pollAfterFailures < 1000) expect(daemon.output()).toContain("polling REST trades every")
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }

  // The three recorded-session runs (a minute each, mostly waiting on the tape's pace) have their own database,
  // replay server and port, so they run side by side.
  it.concurrent(
    "a 20 s outage of a recorded stream: the stored candles equal an uninterrupted run's",
    outage(1000),
    180_000,
  )

  it.concurrent(
    "the same outage with REST polling standing in after two failed reconnects: equal candles again",
    outage(2),
    180_000,
  )

  it.concurrent(
    "kill -9 mid-stream and restart: the candles equal an uninterrupted run's; ingestion status shows the backfill",
    async () => {
      const url = await db.create()
      const server = await ReplayServer.start()
      const httpPort = await freePort()
      const { sent } = recordedSession()
      const env = daemonEnv(server, url, httpPort, [...sent.trades.keys()])
      let daemon = startDaemon(env, process.cwd())
      try {
        const { tape, venue } = await playWhenSubscribed(server)
        // Killed only once every symbol has traded, so each has a point to resume from.
        const symbolOf = (frame: string) => /"s":"([A-Z]+)"/.exec(frame)?.[1]
        const seen = new Set<string>()
        let everyone = tape.length
        for (let i = 0; i < tape.length; i++) {
          if (tape[i]!.topic.endsWith("@aggTrade")) seen.add(symbolOf(tape[i]!.frame)!)
          if (seen.size === sent.trades.size) {
            everyone = i + 1
            break
          }
        }
        const killAt = Math.max(everyone, Math.floor(tape.length * 0.4))
        expect(killAt).toBeLessThan(tape.length * 0.8)
        await until("the kill point", () => venue.sent >= killAt, 90_000)
        daemon.process.kill("SIGKILL")
        await daemon.exit
        await new Promise((r) => setTimeout(r, 5_000))
        daemon = startDaemon(env, process.cwd())
        await until("the tape to end", () => venue.done, 120_000)
        await settled(httpPort, sent)
        await stop(daemon)
        expect(daemon.output()).toContain("resuming after trade")
        expectCandlesMatch(await storedCandles(url), sent, GRACE_MS)
        const fills = await query<{ symbol: string; trades: number }>(
          url,
          "SELECT symbol, metric_value::int AS trades FROM ingestion_metrics WHERE metric_type = 'backfill_trades'",
        )
        expect(fills.reduce((n, f) => n + f.trades, 0)).toBeGreaterThan(0)
        const status = await query<{ n: number }>(
          url,
          "SELECT count(*)::int AS n FROM ingestion_status WHERE timeframe = '1m' AND last_trade_id IS NOT NULL AND ingestion_mode = 'websocket' AND status = 'active'",
        )
        expect(status[0]!.n).toBe(sent.trades.size)
      } finally {
        daemon.process.kill("SIGKILL")
        await server.close()
      }
    },
    240_000,
  )

  it("an injected gap is found and filled (the revision shows); with REST down its candles stay incomplete and /api/status says so", async () => {
    const url = await db.create()
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const spec = {
      symbols: ["BTC/USDT", "ETH/USDT"],
      rate: 20,
      count: 1_600,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000,
      seed: 5,
    }
    const sent = sentOf("binance", spec)
    const daemon = startDaemon(daemonEnv(server, url, httpPort, spec.symbols), process.cwd())
    const venue = server.venue("binance")
    try {
      await until("the daemon to subscribe", () => venue.readyClients() > 0, 30_000)
      server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 4 }, hold: false })
      // First gap: REST answers, so it is filled at once.
      await until("a quarter of the tape", () => venue.sent > 400, 30_000)
      venue.withhold(12)
      await until("the first gap filled", async () => {
        const s = await symbolStatus(httpPort)
        return s.some((x) => x.backfill.trades > 0) && s.every((x) => x.backfill.unfilledGaps === 0)
      })
      // Second gap: REST is down, so its candles stay incomplete, and the status API names the failure.
      venue.restDown = true
      await until("half of the tape", () => venue.sent > 800, 30_000)
      venue.withhold(12)
      await until("the status to show the failing backfill", async () =>
        (await symbolStatus(httpPort)).some(
          (x) => x.backfill.unfilledGaps > 0 && x.backfill.state === "retrying" && /503/.test(x.backfill.error ?? ""),
        ),
      )
      await until("an incomplete final candle stored", async () => {
        const rows = await query<{ n: number }>(
          url,
          "SELECT count(*)::int AS n FROM ohlcv_candles WHERE timeframe = '1m' AND is_final AND NOT complete",
        )
        return rows[0]!.n > 0
      })
      // REST back: the gap is filled, every candle is complete and equals the trades sent.
      venue.restDown = false
      await until("the tape to end", () => venue.done, 60_000)
      await settled(httpPort, sent)
      await stop(daemon)
      expectCandlesMatch(await storedCandles(url), sent, GRACE_MS)
      const revised = await query<{ n: number }>(
        url,
        "SELECT count(*)::int AS n FROM ohlcv_candles WHERE timeframe = '1m' AND revision > 0 AND complete",
      )
      expect(revised[0]!.n).toBeGreaterThan(0)
      expect(daemon.output()).toMatch(/trade\(s\) missing \(ids \d+\.\.\d+\)/)
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 180_000)

  it.concurrent(
    "an outage six times the amend horizon, REST down throughout: repaired from history once it is back, every candle complete and equal, none refused as too late",
    async () => {
      const url = await db.create()
      const server = await ReplayServer.start()
      const httpPort = await freePort()
      // 14 exchange minutes at 8× pace; the outage takes 6 of them, against a 1-minute amend horizon: a 3 h outage
      // against the default 1 h, shortened.
      const spec = {
        symbols: ["BTC/USDT", "ETH/USDT"],
        rate: 10,
        count: 8_400,
        start: Math.floor(Date.now() / 60_000) * 60_000 - 20 * 60_000,
        seed: 9,
      }
      const sent = sentOf("binance", spec)
      const daemon = startDaemon(
        {
          ...daemonEnv(server, url, httpPort, spec.symbols),
          CANDLE_AMEND_HORIZON_MS: "60000",
          BACKFILL_RETRY_MS: "2000",
        },
        process.cwd(),
      )
      const venue = server.venue("binance")
      try {
        await until("the daemon to subscribe", () => venue.readyClients() > 0, 30_000)
        server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 8 }, hold: false })
        await until("a quarter of the tape", () => venue.sent > spec.count / 2, 60_000)
        venue.restDown = true
        venue.outage(45_000)
        await new Promise((r) => setTimeout(r, 45_000))
        venue.restDown = false
        await until("the tape to end", () => venue.done, 90_000)
        await settled(httpPort, sent)
        const samples = await scrape(httpPort)
        await stop(daemon)
        expectCandlesMatch(await storedCandles(url), sent, GRACE_MS)
        expect(total(samples, "trades_discarded_total", { reason: "too_late" })).toBe(0)
        expect(total(samples, "backfilled_trades_total")).toBeGreaterThan(spec.count / 4)
      } finally {
        daemon.process.kill("SIGKILL")
        await server.close()
      }
    },
    240_000,
  )

  it("coinbase and kraken: an injected gap is found and filled from each one's REST trade history", async () => {
    const url = await db.create()
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const exchanges = ["coinbase", "kraken"] as const
    const specs = exchanges.map((exchange, i) => ({
      exchange,
      spec: {
        symbols: ["BTC/USD", "ETH/USD"],
        rate: 20,
        count: 1_200,
        start: Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000,
        seed: 11 + i,
      },
    }))
    const env: Record<string, string> = {
      FEEDS: exchanges.join(","),
      DATABASE_URL: url,
      HTTP_PORT: String(httpPort),
      CANDLE_GRACE_MS: String(GRACE_MS),
      STORE_FLUSH_MS: "100",
    }
    for (const e of exchanges) {
      env[`${e.toUpperCase()}_SYMBOLS`] = "BTC/USD,ETH/USD"
      env[`${e.toUpperCase()}_WS_URL`] = server.url(e)
      env[`${e.toUpperCase()}_REST_URL`] = server.restUrl(e)
    }
    const daemon = startDaemon(env, process.cwd())
    try {
      for (const { exchange, spec } of specs) {
        const venue = server.venue(exchange)
        await until(`the daemon to subscribe to ${exchange}`, () => venue.readyClients() > 0, 30_000)
        server.play(exchange, syntheticTape(spec), { pace: { mode: "paced", speed: 4 }, hold: false })
      }
      for (const { exchange } of specs) {
        const venue = server.venue(exchange)
        await until(`a third of ${exchange}'s tape`, () => venue.sent > 400, 30_000)
        venue.withhold(12)
      }
      for (const { exchange } of specs)
        await until(`${exchange}'s tape to end`, () => server.venue(exchange).done, 60_000)
      const sent = specs.map(({ exchange, spec }) => sentOf(exchange, spec))
      for (const s of sent) await settled(httpPort, s)
      await stop(daemon)
      const stored = await storedCandles(url)
      for (const s of sent) expectCandlesMatch(stored, s, GRACE_MS)
      // The withheld trades are in the stored candles (they match what was sent), so they came from REST.
      for (const e of exchanges) {
        const missing = [...daemon.output().matchAll(new RegExp(`${e} [A-Z]+/USD: (\\d+) trade\\(s\\) missing`, "g"))]
        expect(
          missing.reduce((n, m) => n + Number(m[1]), 0),
          e,
        ).toBe(12)
        expect(daemon.output()).toMatch(new RegExp(`${e} [A-Z]+/USD: backfilled \\d+ trade\\(s\\) from REST history`))
      }
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 180_000)
})
