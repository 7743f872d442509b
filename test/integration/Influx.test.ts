import type { ChildProcess } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync } from "node:fs"
import type { Server } from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { type SyntheticSpec, syntheticTrades } from "../../src/replay/Synthetic.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { type StoredCandle } from "../support/postgres.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import {
  engineUp,
  INFLUX,
  influxQuery,
  nanosOf,
  scratchBucket,
  spawnInfluxd,
  startInfluxProxy,
} from "../support/influx.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"

const SYMBOLS = ["BTC/USDT", "ETH/USDT"]

const tradesPerSymbol = (spec: SyntheticSpec & { count: number }) => {
  const n = new Map<string, number>()
  for (const t of syntheticTrades(spec)) n.set(t.symbol, (n.get(t.symbol) ?? 0) + 1)
  return n
}

/** Tick points per symbol tag in a bucket. */
const tickCounts = async (engine: string, bucket: string) =>
  new Map(
    (await influxQuery(engine, bucket, `SELECT count(last) FROM market_ticks GROUP BY symbol`).catch(() => [])).map(
      (r) => [String(r.symbol), Number(r.count)],
    ),
  )

const allTicksIn = async (engine: string, bucket: string, expected: Map<string, number>) => {
  const got = await tickCounts(engine, bucket)
  return SYMBOLS.every((s) => got.get(s.replace("/", "_")) === expected.get(s))
}

/** Every candle row of PostgreSQL as the InfluxDB point it must have become (floats, integer trades). */
const asPoints = (rows: ReadonlyArray<StoredCandle>) =>
  rows
    .map((c) => ({
      key: `${c.symbol.replace("/", "_")} ${c.timeframe} ${c.timestamp}000000`,
      close: Number(c.close),
      volume: Number(c.volume),
      trades: Number(c.trades),
    }))
    .sort((a, b) => a.key.localeCompare(b.key))

const candlePoints = async (engine: string, bucket: string) =>
  (await influxQuery(engine, bucket, "SELECT close, volume, trades FROM market_ohlcv GROUP BY symbol, timeframe"))
    .map((p) => ({
      key: `${String(p.symbol)} ${String(p.timeframe)} ${nanosOf(p.time)}`,
      close: p.close,
      volume: p.volume,
      trades: p.trades,
    }))
    .sort((a, b) => a.key.localeCompare(b.key))

/** Every trade is a point, and every candle in PostgreSQL is one in InfluxDB with equal values. */
const expectNothingLost = async (engine: string, expected: Map<string, number>, databaseUrl: string) => {
  expect(await tickCounts(engine, "market")).toEqual(
    new Map(SYMBOLS.map((s) => [s.replace("/", "_"), expected.get(s)])),
  )
  const rows = await storedCandles(databaseUrl)
  expect(rows.length).toBeGreaterThan(0)
  expect(await candlePoints(engine, "market")).toEqual(asPoints(rows))
}

const deadLetterText = (dataDir: string) => {
  const dir = join(dataDir, "influx-deadletter")
  return readdirSync(dir)
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("")
}

const rssKiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN)

/** An engine and proxy of the test's own, so that stopping the engine disturbs no other test. */
const ownEngine = async () => {
  const dir = mkdtempSync(join(tmpdir(), "influxd-"))
  const enginePort = await freePort()
  const options = { dir, httpPort: enginePort, rpcPort: await freePort() }
  const engine = `http://127.0.0.1:${enginePort}`
  const influxd: ChildProcess = spawnInfluxd(options)
  const proxyPort = await freePort()
  const proxy: Server = await startInfluxProxy({ port: proxyPort, upstream: engine, token: INFLUX.token })
  await until("influxd", () => engineUp(engine))
  await influxQuery(engine, "", 'CREATE DATABASE "market"')
  return { engine, options, influxd, proxyPort, proxy }
}

describe("the daemon writing to InfluxDB", () => {
  const db = scratchDatabase("ingest_influx")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  const daemonEnv = async (server: ReplayServer, extra: Record<string, string>) => ({
    FEEDS: "binance",
    BINANCE_SYMBOLS: SYMBOLS.join(","),
    BINANCE_WS_URL: server.url("binance"),
    BINANCE_REST_URL: server.restUrl("binance"),
    DATABASE_URL: await db.create(),
    HTTP_PORT: String(await freePort()),
    DATA_DIR: mkdtempSync(join(tmpdir(), "ingest-influx-")),
    INFLUX_URL: INFLUX.proxy,
    INFLUX_TOKEN: INFLUX.token,
    INFLUX_ORG: INFLUX.org,
    CANDLE_GRACE_MS: "2000",
    STORE_FLUSH_MS: "100",
    INFLUX_FLUSH_MS: "100",
    ...extra,
  })

  it("a full disk buffer (configured small) pauses the feed for a 30 s engine outage, and loses no point", async () => {
    const own = await ownEngine()
    const { engine, proxyPort, proxy } = own
    let influxd = own.influxd
    const server = await ReplayServer.start()

    // 40 s of trades at 400/s, played at their own pace.
    const spec = {
      symbols: SYMBOLS,
      rate: 400,
      count: 16_000,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000,
      seed: 7,
    }
    const expected = tradesPerSymbol(spec)
    server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 1 } })
    const env = await daemonEnv(server, {
      INFLUX_URL: `http://127.0.0.1:${proxyPort}`,
      INFLUX_BUCKET: "market",
      INFLUX_BATCH_SIZE: "500",
      MAILBOX_CAPACITY: "64",
      // The sink's own buffers, small: a few hundred lines in memory, about 60 KiB on disk.
      SINK_BUFFER_RECORDS: "300",
      SINK_DISK_MAX_MB: "0.06",
      // Short enough that the outage would pass for a silent exchange if back-pressure were mistaken for one.
      FEED_STALE_MS: "5000",
    })
    const httpPort = Number(env.HTTP_PORT)
    const daemon = startDaemon(env, process.cwd())
    const pid = daemon.process.pid!
    try {
      await until("the first ticks in InfluxDB", async () => (await tickCounts(engine, "market")).size > 0)
      const paused0 = await metric(httpPort, "feed_socket_pauses_total", 'exchange="binance"')
      influxd.kill("SIGTERM")
      await new Promise((r) => influxd.once("exit", r))
      const stoppedAt = Date.now()
      const rss0 = rssKiB(pid)
      let rssMax = rss0
      let framesAt10s = 0
      while (Date.now() - stoppedAt < 30_000) {
        await new Promise((r) => setTimeout(r, 1_000))
        rssMax = Math.max(rssMax, rssKiB(pid))
        if (framesAt10s === 0 && Date.now() - stoppedAt >= 10_000)
          framesAt10s = await metric(httpPort, "feed_frames_received_total", 'exchange="binance"')
      }
      const framesAt30s = await metric(httpPort, "feed_frames_received_total", 'exchange="binance"')
      const during = {
        retries: await metric(httpPort, "store_write_failures_total", 'sink="influx",kind="retryable"'),
        paused: (await metric(httpPort, "feed_socket_pauses_total", 'exchange="binance"')) - paused0,
        staleReconnects: await metric(httpPort, "feed_reconnects_total", 'reason="stale"'),
        readyz: await fetch(`http://127.0.0.1:${httpPort}/readyz`).then((r) => r.status),
      }
      influxd = spawnInfluxd(own.options)
      await until("every tick in InfluxDB after the outage", () => allTicksIn(engine, "market", expected), 90_000)
      await until("the tape played out", () => server.venue("binance").done, 30_000)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)

      // The sink retried, its disk buffer filled, the socket was paused, and it read next to nothing in the last
      // 20 s of the outage (400 trades/s were on offer): the backlog stayed with the exchange, not in the heap.
      expect(during.retries).toBeGreaterThanOrEqual(2)
      expect(during.paused).toBeGreaterThan(0)
      expect(framesAt30s - framesAt10s).toBeLessThan(200)
      expect(rssMax - rss0).toBeLessThan(64 * 1024)
      expect(during.staleReconnects).toBe(0)
      expect(during.readyz).toBe(503)
      await expectNothingLost(engine, expected, env.DATABASE_URL)
      expect(daemon.output()).toContain("InfluxDB unavailable")
      expect(daemon.output()).toContain("sink influx: disk buffer full")
    } finally {
      daemon.process.kill("SIGKILL")
      influxd.kill("SIGKILL")
      proxy.close()
      await server.close()
    }
  }, 240_000)

  it("kill -9 during an engine outage with points spilled to disk: after the restart and the outage's end, every point is in InfluxDB", async () => {
    const own = await ownEngine()
    const { engine, proxyPort, proxy } = own
    let influxd = own.influxd
    const server = await ReplayServer.start()
    // 40 s of trades at 300/s; a minute boundary about 15 s in, so that candles become final during the outage.
    const minute = Math.floor(Date.now() / 60_000) * 60_000
    const spec = { symbols: SYMBOLS, rate: 300, count: 12_000, start: minute - 10 * 60_000 - 15_000, seed: 9 }
    const expected = tradesPerSymbol(spec)
    server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 1 } })
    const env = await daemonEnv(server, {
      INFLUX_URL: `http://127.0.0.1:${proxyPort}`,
      INFLUX_BUCKET: "market",
      INFLUX_BATCH_SIZE: "500",
      SINK_BUFFER_RECORDS: "1000",
    })
    const httpPort = Number(env.HTTP_PORT)
    let daemon = startDaemon(env, process.cwd())
    try {
      await until("the first ticks in InfluxDB", async () => (await tickCounts(engine, "market")).size > 0)
      const stored0 = await metric(httpPort, "candles_stored_total", 'sink="postgres"')
      influxd.kill("SIGTERM")
      await new Promise((r) => influxd.once("exit", r))
      await until(
        "points spilled to the disk buffer",
        async () => (await metric(httpPort, "sink_disk_records", 'sink="influx"')) > 2_000,
        30_000,
      )
      await until(
        "final candles stored in PostgreSQL during the outage",
        async () => (await metric(httpPort, "candles_stored_total", 'sink="postgres"')) > stored0,
        30_000,
      )
      const pauses = await metric(httpPort, "feed_socket_pauses_total", 'exchange="binance"')
      daemon.process.kill("SIGKILL")
      await daemon.exit
      // The restart finds the outage's points on disk and holds them until InfluxDB is back.
      daemon = startDaemon(env, process.cwd())
      await until("the restarted daemon", () => daemon.output().includes("a previous run left in"), 30_000)
      await new Promise((r) => setTimeout(r, 3_000))
      influxd = spawnInfluxd(own.options)
      await until("every tick in InfluxDB", () => allTicksIn(engine, "market", expected), 120_000)
      await until("the tape played out", () => server.venue("binance").done, 60_000)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)

      expect(pauses).toBe(0)
      await expectNothingLost(engine, expected, env.DATABASE_URL)
    } finally {
      daemon.process.kill("SIGKILL")
      influxd.kill("SIGKILL")
      proxy.close()
      await server.close()
    }
  }, 240_000)

  /** Four minutes of trades, played as fast as the daemon reads, into a scratch bucket. */
  type Readyz = { components: Record<string, { state: string; detail?: string }> }
  /** Runs a short tape through the daemon; `settled` is what /readyz must show before it is stopped. */
  const fastRun = async (
    bucket: string,
    extra: Record<string, string>,
    settled: (r: Readyz) => boolean = () => true,
  ) => {
    const server = await ReplayServer.start()
    const spec = {
      symbols: SYMBOLS,
      rate: 10,
      count: 2_400,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000,
      seed: 3,
    }
    server.play("binance", syntheticTape(spec), {})
    const env = await daemonEnv(server, { INFLUX_BUCKET: bucket, ...extra })
    const daemon = startDaemon(env, process.cwd())
    try {
      await until("the tape played out", () => server.venue("binance").done, 60_000)
      await until("final candles in PostgreSQL", async () => (await storedCandles(env.DATABASE_URL)).length >= 8)
      const healthz = await fetch(`http://127.0.0.1:${env.HTTP_PORT}/healthz`).then((r) => r.status)
      const readyzNow = () => fetch(`http://127.0.0.1:${env.HTTP_PORT}/readyz`).then((r) => r.json() as Promise<Readyz>)
      // A sink's state changes with its first write, which waits out its linger after the tape's last trade.
      await until("/readyz to show the sinks' outcome", async () => settled(await readyzNow()))
      const readyz = await readyzNow()
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
      return { env, spec, healthz, readyz, output: daemon.output() }
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }

  it("a wrong token (401): every line lands in the dead-letter file with the error; the daemon keeps running", async () => {
    const bucket = await scratchBucket()
    try {
      const run = await fastRun(
        bucket.name,
        { INFLUX_TOKEN: "not-the-token" },
        (r) => r.components["store:influx"]?.state === "down",
      )
      expect(run.healthz).toBe(200)
      expect(run.readyz.components["store:influx"]).toMatchObject({ state: "down" })
      expect(run.readyz.components["store:influx"]?.detail).toContain("check INFLUX_TOKEN")
      // PostgreSQL got its candles all the same.
      expect((await storedCandles(run.env.DATABASE_URL)).length).toBeGreaterThanOrEqual(8)
      const text = deadLetterText(run.env.DATA_DIR)
      expect(text).toMatch(/^# \S+ InfluxDB refused \d+ line\(s\): 401 unauthorized access$/m)
      const ticks = text.split("\n").filter((l) => l.startsWith("market_ticks,exchange=binance,symbol="))
      expect(ticks).toHaveLength(run.spec.count)
      expect(text).toContain("market_ohlcv,exchange=binance,symbol=BTC_USDT,timeframe=1m ")
      expect(run.output).toContain("check INFLUX_TOKEN")
      expect(run.output).not.toContain("not-the-token")
      expect((await tickCounts(INFLUX.engine, bucket.name)).size).toBe(0)
    } finally {
      await bucket.drop()
    }
  }, 120_000)

  it("a field type conflict (422): only the conflicting lines are dead-lettered, with the error; the rest is written", async () => {
    const bucket = await scratchBucket()
    try {
      // A point in the same shard that made `trades` a string: every candle line now conflicts with it.
      const at = `${Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000}000000`
      await fetch(`${INFLUX.engine}/write?db=${bucket.name}&precision=n`, {
        method: "POST",
        body: `market_ohlcv,exchange=other,symbol=X_Y,timeframe=1m trades="many" ${at}`,
      })
      const run = await fastRun(bucket.name, {})
      expect(run.healthz).toBe(200)
      const text = deadLetterText(run.env.DATA_DIR)
      expect(text).toMatch(/InfluxDB refused 1 line\(s\): 422 .*field type conflict/)
      const dead = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"))
      expect(dead.length).toBeGreaterThanOrEqual(8)
      expect(dead.every((l) => l.startsWith("market_ohlcv,exchange=binance,"))).toBe(true)
      // Every tick made it, though it shared batches with the refused candles.
      expect(await allTicksIn(INFLUX.engine, bucket.name, tradesPerSymbol(run.spec))).toBe(true)
      expect(run.output).toContain("InfluxDB refused 1 market line(s) (422")
    } finally {
      await bucket.drop()
    }
  }, 120_000)
})
