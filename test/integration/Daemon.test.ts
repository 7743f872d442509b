import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { PGlite } from "@electric-sql/pglite"
import amqp from "amqplib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MARKET } from "../../src/domain/Topology.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { expectCandlesMatch, expectedFinals, finalsOverHttp } from "../support/candles.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import {
  CANDLES_SQL,
  normaliseRows,
  query,
  scratchDatabase,
  type StoredCandle,
  storedCandles,
} from "../support/postgres.js"
import { expectIndicatorsMatch } from "../support/indicators.js"
import { INFLUX, influxQuery, nanosOf, scratchBucket } from "../support/influx.js"
import { freshVhost } from "../support/rabbit.js"
import { recordedSession } from "../support/session.js"

const GRACE_MS = 2_000
/** The recorded session closes two 1m candles per symbol: enough for these two. */
const INDICATORS = ["sma_2", "ema_2"]

/**
 * Replays the session through the daemon with a connection drop in the middle (the replay re-sends its last 50
 * frames on reconnect, as an exchange overlap would), stops it with SIGTERM, and checks every stored candle
 * against the independent computation.
 */
const scenario = async (
  env: Record<string, string>,
  readCandles: () => Promise<Array<StoredCandle>>,
  cwd: string,
  beforeStop: (httpPort: number, symbols: ReadonlyArray<string>) => Promise<void> = async () => {},
) => {
  const { tape, sent } = recordedSession()
  const server = await ReplayServer.start()
  server.play("binance", tape, { dropAt: Math.floor(tape.length / 2), rewind: 50 })
  const venue = server.venue("binance")
  const httpPort = await freePort()
  const daemon = startDaemon(
    {
      FEEDS: "binance",
      BINANCE_SYMBOLS: [...sent.trades.keys()].join(","),
      BINANCE_TRADE_STREAM: "aggTrade",
      BINANCE_WS_URL: server.url("binance"),
      BINANCE_REST_URL: server.restUrl("binance"),
      HTTP_PORT: String(httpPort),
      CANDLE_GRACE_MS: String(GRACE_MS),
      FEED_RECONNECT_BASE_MS: "100",
      STORE_FLUSH_MS: "100",
      ...env,
    },
    cwd,
  )
  try {
    await until("the replay to finish after a reconnect", () => venue.done && venue.connections >= 2, 60_000)
    const finals = expectedFinals(sent, GRACE_MS)
    await until("final candles in the store", async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined)
      if (res?.status !== 200) return false
      const got = await finalsOverHttp(httpPort, sent)
      return [...finals].every((k) => got.has(k))
    })
    await beforeStop(httpPort, [...sent.trades.keys()])
    daemon.process.kill("SIGTERM")
    expect(await daemon.exit).toBe(0)
    expectCandlesMatch(await readCandles(), sent, GRACE_MS)
    expect(daemon.output()).toContain("reconnecting")
  } finally {
    daemon.process.kill("SIGKILL")
    await server.close()
  }
}

describe("the daemon process, replaying recorded Binance frames through a connection drop", () => {
  const db = scratchDatabase("ingest_it")
  const workDirs: Array<string> = []
  const workDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "ingest-it-"))
    workDirs.push(dir)
    return dir
  }

  beforeAll(() => db.start())
  afterAll(async () => {
    await db.stop()
    for (const dir of workDirs) rmSync(dir, { recursive: true, force: true })
  })

  it("stores exactly the right candles in PostgreSQL, and every final one survives SIGTERM; its indicators in PostgreSQL, InfluxDB and RabbitMQ", async () => {
    const url = await db.create()
    const bucket = await scratchBucket()
    const vhost = freshVhost("daemon-indicators")
    // The daemon declares the exchange; a consumer's queue for indicators is the consumer's own, bound first.
    const conn = await amqp.connect(vhost.url)
    const ch = await conn.createChannel()
    await ch.assertExchange(MARKET, "topic", { durable: true })
    const q = await ch.assertQueue("", { exclusive: true })
    await ch.bindQueue(q.queue, MARKET, "indicator.#")
    const messages = new Map<
      string,
      { symbol: string; timeframe: string; openTime: number; indicators: Record<string, number> }
    >()
    await ch.consume(
      q.queue,
      (m) => {
        if (m !== null) messages.set(m.properties.messageId as string, JSON.parse(m.content.toString()))
      },
      { noAck: true },
    )
    try {
      await scenario(
        {
          DATABASE_URL: url,
          INDICATORS: INDICATORS.join(","),
          INFLUX_URL: INFLUX.proxy,
          INFLUX_TOKEN: INFLUX.token,
          INFLUX_ORG: INFLUX.org,
          INFLUX_BUCKET: bucket.name,
          INFLUX_FLUSH_MS: "100",
          RABBITMQ_URL: vhost.url,
        },
        async () => {
          const status = await query<{ n: number }>(
            url,
            "SELECT count(*)::int AS n FROM ingestion_status WHERE last_trade_id IS NOT NULL",
          )
          expect(status[0]!.n).toBeGreaterThan(0)
          const candles = await storedCandles(url)
          await expectIndicatorsMatch(url, candles, INDICATORS)
          // Every candle with indicators: one point in InfluxDB and its values on RabbitMQ, equal to the rows.
          const rows = await query<{
            symbol: string
            timeframe: string
            timestamp: string
            indicator: string
            value: string
          }>(url, `SELECT symbol, timeframe, "timestamp"::text, indicator, value::text FROM indicators`)
          const want = new Map<string, Record<string, number>>()
          for (const r of rows) {
            const key = `${r.symbol} ${r.timeframe} ${r.timestamp}`
            want.set(key, { ...want.get(key), [r.indicator]: Number(r.value) })
          }
          const points = await influxQuery(INFLUX.engine, bucket.name, "SELECT * FROM market_indicators GROUP BY *")
          const fromInflux = new Map(
            points.map((p) => [
              `${String(p.symbol).replace("_", "/")} ${p.timeframe} ${nanosOf(p.time).slice(0, -6)}`,
              Object.fromEntries(INDICATORS.filter((n) => typeof p[n] === "number").map((n) => [n, p[n] as number])),
            ]),
          )
          expect(fromInflux).toEqual(want)
          await until("every candle's indicators on RabbitMQ", () =>
            [...want.keys()].every((k) =>
              [...messages.values()].some((m) => `${m.symbol} ${m.timeframe} ${m.openTime}` === k),
            ),
          )
          for (const [key, values] of want) {
            const sent = [...messages.values()].filter((m) => `${m.symbol} ${m.timeframe} ${m.openTime}` === key)
            expect(sent.at(-1)?.indicators, key).toEqual(values)
          }
          return candles
        },
        workDir(),
        async (httpPort, symbols) => {
          const served = async (symbol: string) => {
            const res = await fetch(
              `http://127.0.0.1:${httpPort}/api/indicators?exchange=binance&symbol=${encodeURIComponent(symbol)}&timeframe=1m`,
            )
            const body = (await res.json()) as { indicators: Array<{ values: Record<string, number> }> }
            return body.indicators.some((row) => INDICATORS.every((name) => typeof row.values[name] === "number"))
          }
          await until("indicators over HTTP", async () => (await Promise.all(symbols.map(served))).some((x) => x))
        },
      )
    } finally {
      await conn.close()
      vhost.drop()
      await bucket.drop()
    }
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

  it("restarts past a stored candle it cannot read: one warning naming it, counted, and the daemon runs on", async () => {
    const url = await db.create()
    await scenario({ DATABASE_URL: url }, () => storedCandles(url), workDir())
    // A row someone edited by hand: the last final minute's volume is no longer a number.
    const [row] = await query<{ symbol: string }>(
      url,
      `UPDATE ohlcv_candles SET volume = 'NaN' WHERE (symbol, timeframe, "timestamp") =
         (SELECT symbol, timeframe, "timestamp" FROM ohlcv_candles WHERE timeframe = '1m' AND is_final AND trades > 0
          ORDER BY "timestamp" DESC, symbol LIMIT 1)
       RETURNING symbol`,
    )
    expect(row).toBeDefined()
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const daemon = startDaemon(
      {
        FEEDS: "binance",
        BINANCE_SYMBOLS: [...recordedSession().sent.trades.keys()].join(","),
        BINANCE_WS_URL: server.url("binance"),
        BINANCE_REST_URL: server.restUrl("binance"),
        HTTP_PORT: String(httpPort),
        DATABASE_URL: url,
        RECONCILE_INTERVAL_MS: "0",
      },
      workDir(),
    )
    try {
      await until("the warning about the unreadable candle", () => daemon.output().includes("could not be read"))
      await until(
        "the daemon serving",
        async () => (await metric(httpPort, "candles_unreadable_total", "").catch(() => 0)) === 1,
      )
      const warnings = daemon
        .output()
        .split("\n")
        .filter((l) => l.includes("could not be read"))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toContain(`binance ${row!.symbol}: 1 stored 1m candle(s) could not be read`)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 180_000)
})
