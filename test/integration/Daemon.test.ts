import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import pg from "pg"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEFAULT_TIMEFRAMES, periodMs } from "../../src/schema/Candle.js"
import { BinanceServer } from "../support/BinanceServer.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { fixtureLines, fixtureMeta, type RecordedAggTrade } from "../support/fixtures.js"
import { norm, referenceCandles } from "../support/reference.js"

const SESSION = "cf-bin-20210405"
const GRACE_MS = 2_000
const QUOTES = ["USDT", "BUSD", "BTC", "ETH", "BNB", "AUD", "BRL", "TRY"]
const unified = (venue: string) => {
  const quote = QUOTES.find((q) => venue.endsWith(q))!
  return `${venue.slice(0, -quote.length)}/${quote}`
}

/** One recorded session, aggTrades and book tickers interleaved by their receive time, as the exchange sent them. */
const recordedSession = () => {
  const read = (file: string) => {
    const meta = fixtureMeta(file)
    return fixtureLines(file)
      .map((raw, i) => ({ raw, ...meta[i]! }))
      .filter((f) => f.source === SESSION)
  }
  const frames = [...read("binance/aggTrade.jsonl"), ...read("binance/bookTicker.jsonl")].sort(
    (a, b) => a.recvTs - b.recvTs,
  )
  const trades = read("binance/aggTrade.jsonl").map((f) => (JSON.parse(f.raw) as { data: RecordedAggTrade }).data)
  return { frames: frames.map((f) => f.raw), trades }
}

interface StoredCandle {
  symbol: string
  timeframe: string
  timestamp: number
  open: string
  high: string
  low: string
  close: string
  volume: string
  quote_volume: string
  trades: number
  taker_buy_base: string
  taker_buy_quote: string
  close_time: number
  is_final: boolean
  complete: boolean
}

const CANDLES_SQL = `SELECT symbol, timeframe, "timestamp"::text AS timestamp, open::text, high::text, low::text,
  close::text, volume::text, quote_volume::text, trades, taker_buy_base::text, taker_buy_quote::text,
  close_time::text AS close_time, is_final, complete FROM ohlcv_candles ORDER BY symbol, timeframe, "timestamp"`

const normaliseRows = (rows: ReadonlyArray<Record<string, unknown>>): Array<StoredCandle> =>
  rows.map((r) => ({
    ...(r as unknown as StoredCandle),
    timestamp: Number(r.timestamp),
    close_time: Number(r.close_time),
  }))

/**
 * Replays the session through the daemon with a connection drop in the middle, stops it with SIGTERM, and checks
 * every stored candle against the independent computation.
 */
const scenario = async (env: Record<string, string>, readCandles: () => Promise<Array<StoredCandle>>, cwd: string) => {
  const { frames, trades } = recordedSession()
  const symbols = [...new Set(trades.map((t) => t.s))]
  const server = await BinanceServer.start()
  server.play(frames, { dropAt: Math.floor(frames.length / 2), replayOnReconnect: 50 })
  const httpPort = await freePort()
  const daemon = startDaemon(
    {
      FEEDS: "binance",
      BINANCE_SYMBOLS: symbols.map(unified).join(","),
      BINANCE_TRADE_STREAM: "aggTrade",
      BINANCE_WS_URL: server.url,
      HTTP_PORT: String(httpPort),
      CANDLE_GRACE_MS: String(GRACE_MS),
      FEED_RECONNECT_BASE_MS: "100",
      STORE_FLUSH_MS: "100",
      ...env,
    },
    cwd,
  )
  try {
    await until(
      "the replay to finish after a reconnect",
      () => server.sent === frames.length && server.connections >= 2,
      60_000,
    )
    const lastEvent = Math.max(...trades.map((t) => t.T))
    const mustBeFinal = (c: { close_time: number }) => c.close_time + GRACE_MS <= lastEvent
    const expectedFinals = new Set<string>()
    for (const s of symbols)
      for (const tf of DEFAULT_TIMEFRAMES)
        for (const b of referenceCandles(refTrades(trades, s), periodMs(tf)).keys())
          if (b + periodMs(tf) - 1 + GRACE_MS <= lastEvent) expectedFinals.add(`${unified(s)} ${tf} ${b}`)
    await until("final candles in the store", async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined)
      if (res?.status !== 200) return false
      const got = await readCandlesOver(httpPort, symbols)
      return [...expectedFinals].every((k) => got.has(k))
    })
    daemon.process.kill("SIGTERM")
    expect(await daemon.exit).toBe(0)
    const stored = await readCandles()
    const seen = new Set<string>()
    for (const s of symbols) {
      for (const tf of DEFAULT_TIMEFRAMES) {
        const expected = referenceCandles(refTrades(trades, s), periodMs(tf))
        const rows = stored.filter((c) => c.symbol === unified(s) && c.timeframe === tf)
        let previousClose: string | undefined
        for (const row of rows) {
          seen.add(`${s} ${tf} ${row.timestamp}`)
          if (mustBeFinal(row)) expect(row.is_final, `${s} ${tf} ${row.timestamp} final`).toBe(true)
          expect(row.complete).toBe(true)
          const e = expected.get(row.timestamp)
          if (e === undefined) {
            // An empty interval after the symbol's first trade: flat at the previous close.
            expect(row.trades).toBe(0)
            expect([row.open, row.high, row.low, row.close].map(norm)).toEqual(Array(4).fill(norm(previousClose!)))
            expect(norm(row.volume)).toBe("0")
          } else {
            expect(
              [
                row.open,
                row.high,
                row.low,
                row.close,
                row.volume,
                row.quote_volume,
                row.taker_buy_base,
                row.taker_buy_quote,
              ].map(norm),
              `${s} ${tf} ${row.timestamp}`,
            ).toEqual([e.open, e.high, e.low, e.close, e.volume, e.quoteVolume, e.takerBuyBase, e.takerBuyQuote])
            expect(row.trades).toBe(e.trades)
          }
          previousClose = row.close
        }
        for (const b of expected.keys()) expect(seen.has(`${s} ${tf} ${b}`), `${s} ${tf} ${b} stored`).toBe(true)
      }
    }
    expect(daemon.output()).toContain("reconnecting")
  } finally {
    daemon.process.kill("SIGKILL")
    await server.close()
  }
}

const refTrades = (trades: ReadonlyArray<RecordedAggTrade>, symbol: string) =>
  trades
    .filter((t) => t.s === symbol)
    .map((t) => ({ id: t.a, ts: t.T, price: t.p, qty: t.q, takerBuy: !t.m, count: t.l - t.f + 1 }))

/** Final candles as the daemon's own HTTP API reports them. */
const readCandlesOver = async (port: number, symbols: ReadonlyArray<string>) => {
  const keys = new Set<string>()
  for (const s of symbols)
    for (const tf of DEFAULT_TIMEFRAMES) {
      const q = new URLSearchParams({ exchange: "binance", symbol: unified(s), timeframe: tf })
      const res = await fetch(`http://127.0.0.1:${port}/api/candles?${q}`)
      const body = (await res.json()) as { candles: Array<{ openTime: number; isFinal: boolean }> }
      for (const c of body.candles) if (c.isFinal) keys.add(`${unified(s)} ${tf} ${c.openTime}`)
    }
  return keys
}

describe("the daemon process, replaying recorded Binance frames through a connection drop", () => {
  const admin = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "postgres" })
  const database = `ingest_it_${process.pid}_${Date.now()}`
  const workDirs: Array<string> = []
  const workDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "ingest-it-"))
    workDirs.push(dir)
    return dir
  }

  beforeAll(async () => {
    await admin.connect()
    await admin.query(`CREATE DATABASE ${database}`)
  })
  afterAll(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
    await admin.end()
    for (const dir of workDirs) rmSync(dir, { recursive: true, force: true })
  })

  it("stores exactly the right candles in PostgreSQL, and every final one survives SIGTERM", async () => {
    const url = `postgres://postgres@127.0.0.1:5432/${database}`
    await scenario(
      { DATABASE_URL: url },
      async () => {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        try {
          const status = await client.query(
            "SELECT count(*)::int AS n FROM ingestion_status WHERE last_trade_id IS NOT NULL",
          )
          expect(status.rows[0].n).toBeGreaterThan(0)
          return normaliseRows((await client.query(CANDLES_SQL)).rows)
        } finally {
          await client.end()
        }
      },
      workDir(),
    )
  }, 120_000)

  it("does the same with the embedded store when DATABASE_URL is unset", async () => {
    const dir = workDir()
    await scenario(
      { DATA_DIR: join(dir, "data") },
      async () => {
        const db = new PGlite(join(dir, "data", "pglite"))
        try {
          return normaliseRows((await db.query<Record<string, unknown>>(CANDLES_SQL)).rows)
        } finally {
          await db.close()
        }
      },
      dir,
    )
  }, 120_000)
})
