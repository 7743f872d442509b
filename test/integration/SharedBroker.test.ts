import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import amqp from "amqplib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  INGEST_OHLCV_QUEUE,
  INGEST_SIGNALS_QUEUE,
  OHLCV_DLQ,
  OHLCV_QUEUE,
  SIGNALS,
  SIGNALS_QUEUE,
  SEED_DLQS,
  TICKS_DLQ,
  TICKS_QUEUE,
} from "../../src/domain/Topology.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { expectCandlesMatch, expectedFinals, sentOf, untilStoredComplete } from "../support/candles.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import { INFLUX, influxQuery, scratchBucket } from "../support/influx.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"
import { brokerAlarms, freshVhost, queueDepths, rabbitctl, seedSetupTopology } from "../support/rabbit.js"
import { sampleSignal, seedSignal, seedSignalPoint } from "../support/samples.js"
import { startTcpProxy } from "../support/tcpProxy.js"

const SYMBOLS = ["BTC/USDT", "ETH/USDT"]
const GRACE_MS = 2_000
/** The soak's length: the issue asks for five minutes; SOAK_MS shortens it for a quick local run. */
const SOAK_MS = Number(process.env.SOAK_MS ?? 300_000)

const binanceEnv = (server: ReplayServer) => ({
  FEEDS: "binance",
  BINANCE_SYMBOLS: SYMBOLS.join(","),
  BINANCE_WS_URL: server.url("binance"),
  BINANCE_REST_URL: server.restUrl("binance"),
  RECONCILE_INTERVAL_MS: "0",
  STORE_FLUSH_MS: "100",
  CANDLE_GRACE_MS: String(GRACE_MS),
})

const status = async (httpPort: number) =>
  (await (await fetch(`http://127.0.0.1:${httpPort}/api/status`)).json()) as {
    deadLetters: {
      depths: Record<string, number>
      bounds: { state: string; queues?: Array<string> }
    } | null
  }

const ready = async (httpPort: number) =>
  (await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined))?.status === 200

const publish = async (url: string, key: string, id: string, body: unknown) => {
  const conn = await amqp.connect(url)
  const ch = await conn.createConfirmChannel()
  await new Promise<void>((resolve, reject) =>
    ch.publish(SIGNALS, key, Buffer.from(JSON.stringify(body)), { messageId: id, persistent: true }, (err) =>
      err ? reject(err) : resolve(),
    ),
  )
  await conn.close()
}

describe("a good citizen on a shared broker", () => {
  const db = scratchDatabase("ingest_shared")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it("a broker where the seed declared first: the daemon starts, publishes, and stores signals of both forms; no PRECONDITION_FAILED; each unbounded dead-letter queue is named in a warning", async () => {
    const broker = freshVhost("seed-daemon")
    await seedSetupTopology(broker.url)
    const bucket = await scratchBucket()
    const server = await ReplayServer.start()
    const spec = { symbols: SYMBOLS, rate: 10, count: 2_400, start: Date.now() - 10 * 60_000, seed: 5 }
    server.play("binance", syntheticTape(spec), {})
    const httpPort = await freePort()
    const daemon = startDaemon(
      {
        ...binanceEnv(server),
        DATABASE_URL: await db.create(),
        RABBITMQ_URL: broker.url,
        RABBITMQ_DLQ_POLL_MS: "500",
        INFLUX_URL: INFLUX.proxy,
        INFLUX_TOKEN: INFLUX.token,
        INFLUX_ORG: INFLUX.org,
        INFLUX_BUCKET: bucket.name,
        HTTP_PORT: String(httpPort),
        DATA_DIR: mkdtempSync(join(tmpdir(), "ingest-shared-")),
      },
      process.cwd(),
    )
    try {
      await until(
        "ingest.signals declared",
        async () => (await queueDepths(broker.url, [INGEST_SIGNALS_QUEUE])).size === 1,
      )
      await publish(broker.url, "signal.new", "flat-1", sampleSignal({ model_version: "flat-form" }))
      await publish(broker.url, "signal.high", "seed-1", seedSignal("seed-form"))
      const signals = () => influxQuery(INFLUX.engine, bucket.name, "SELECT * FROM ml_signals").catch(() => [])
      await until("both signals in ml_signals", async () => (await signals()).length === 2)
      await until(
        "ticks and candles in the seed's queues",
        async () => {
          const d = await queueDepths(broker.url, [TICKS_QUEUE, OHLCV_QUEUE])
          return (d.get(TICKS_QUEUE) ?? 0) > 0 && (d.get(OHLCV_QUEUE) ?? 0) > 0
        },
        60_000,
      )
      await until("the bound check", async () => (await status(httpPort)).deadLetters?.bounds.state !== "pending")

      const stored = await signals()
      expect(stored.map((p) => p.model_version).sort()).toEqual(["flat-form", "seed-form"])
      const { timestamp: _, exchange, symbol, ...flatFields } = sampleSignal({ model_version: "flat-form" })
      expect(stored.find((p) => p.model_version === "flat-form")).toMatchObject({
        ...flatFields,
        time: "2023-11-14T22:13:20Z",
        exchange,
        symbol: symbol.replace("/", "_"),
      })
      expect(stored.find((p) => p.model_version === "seed-form")).toMatchObject(seedSignalPoint("seed-form"))
      // The Execution Service's queue keeps its high-confidence signal for its owner.
      expect((await queueDepths(broker.url, [SIGNALS_QUEUE])).get(SIGNALS_QUEUE)).toBe(1)

      const output = daemon.output()
      expect(output).not.toContain("PRECONDITION")
      expect(output).not.toContain("other arguments")
      // No policy in this vhost: each dead-letter queue is named in one warning, with what to run. The seed's are
      // checked once the connection declared them, ingest.signals.dlq once its consumer did.
      const warnings = output.split("\n").filter((l) => l.includes("have no length or byte bound"))
      const warned = warnings.flatMap((l) => /queue\(s\) (.*?) in vhost/.exec(l)?.[1]?.split(", ") ?? [])
      expect(warned.toSorted()).toEqual([...SEED_DLQS, `${INGEST_SIGNALS_QUEUE}.dlq`].toSorted())
      for (const l of warnings) expect(l).toContain(`rabbitmqctl set_policy -p ${broker.vhost}`)
      const { deadLetters } = await status(httpPort)
      expect(deadLetters?.bounds).toMatchObject({ state: "unbounded" })
      expect(deadLetters?.bounds.queues).toEqual(expect.arrayContaining([...SEED_DLQS]))
      expect(Object.keys(deadLetters?.depths ?? {})).toEqual(expect.arrayContaining([...SEED_DLQS]))
      expect(await ready(httpPort)).toBe(true)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
      await bucket.drop()
      broker.drop()
    }
  }, 120_000)

  it(
    `soak (${SOAK_MS / 1000} s): ticks nobody consumes expire into a dead-letter queue the policy bounds; no broker alarm, the daemon stays ready, and /metrics shows the depths`,
    async () => {
      const BOUND = 500
      const broker = freshVhost("soak")
      rabbitctl(
        "set_policy",
        "-p",
        broker.vhost,
        "--apply-to",
        "queues",
        "dead-letters-bounded",
        "\\.dlq$",
        JSON.stringify({ "max-length": BOUND, overflow: "drop-head" }),
      )
      const server = await ReplayServer.start()
      const rate = 100
      const spec = { symbols: SYMBOLS, rate, count: (rate * (SOAK_MS + 60_000)) / 1000, start: Date.now(), seed: 8 }
      server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 1 }, shiftToNow: true })
      const httpPort = await freePort()
      const daemon = startDaemon(
        {
          ...binanceEnv(server),
          DATABASE_URL: await db.create(),
          RABBITMQ_URL: broker.url,
          // Seconds instead of the seed's minute: dead letters start at once and reach the bound early in the run.
          RABBITMQ_TICKS_TTL_MS: "1000",
          RABBITMQ_OHLCV_TTL_MS: "2000",
          RABBITMQ_DLQ_POLL_MS: "1000",
          TICK_BATCH_MAX: "5",
          HTTP_PORT: String(httpPort),
          DATA_DIR: mkdtempSync(join(tmpdir(), "ingest-soak-")),
        },
        process.cwd(),
      )
      try {
        await until("the daemon ready", () => ready(httpPort), 30_000)
        const started = Date.now()
        let peak = 0
        let samples = 0
        while (Date.now() - started < SOAK_MS) {
          await new Promise((r) => setTimeout(r, 5_000))
          const depths = await queueDepths(broker.url, [TICKS_QUEUE, ...SEED_DLQS])
          for (const dlq of SEED_DLQS)
            expect(depths.get(dlq) ?? 0, `${dlq} within its bound`).toBeLessThanOrEqual(BOUND)
          expect(depths.get(TICKS_QUEUE) ?? 0).toBeLessThanOrEqual(100_000)
          peak = Math.max(peak, depths.get(TICKS_DLQ) ?? 0)
          expect(await brokerAlarms()).toEqual([])
          expect(await ready(httpPort), `ready after ${Math.round((Date.now() - started) / 1000)} s`).toBe(true)
          samples++
        }
        expect(samples).toBeGreaterThanOrEqual(Math.floor(SOAK_MS / 6_000))
        // The bound was reached and held: the broker dropped the oldest dead letters rather than growing.
        expect(peak).toBe(BOUND)
        const published = await metric(httpPort, "rabbitmq_published_total", 'kind="tick"')
        // Publishing went on throughout: the soak's ticks, less a margin for the start.
        expect(published).toBeGreaterThan((rate * SOAK_MS * 0.9) / 1000)
        expect(await metric(httpPort, "rabbitmq_dead_letter_messages", `queue="${TICKS_DLQ}"`)).toBe(BOUND)
        expect((await status(httpPort)).deadLetters?.bounds).toEqual({ state: "bounded" })
        // Final candles (one per minute boundary the soak crossed) expired from market.ohlcv too (2 s TTL, no
        // consumer), into a bounded queue of their own.
        const candles = await metric(httpPort, "rabbitmq_published_total", 'kind="candle"')
        if (SOAK_MS >= 120_000) expect(candles).toBeGreaterThan(0)
        expect(((await queueDepths(broker.url, [OHLCV_DLQ])).get(OHLCV_DLQ) ?? 0) > 0).toBe(candles > 0)
        expect(daemon.output()).not.toContain("blocked publishing")
        daemon.process.kill("SIGTERM")
        expect(await daemon.exit).toBe(0)
      } finally {
        daemon.process.kill("SIGKILL")
        await server.close()
        broker.drop()
      }
    },
    SOAK_MS + 120_000,
  )

  it("CANDLE_SINK=queue: a PostgreSQL outage five times longer than market.ohlcv's TTL loses no candle", async () => {
    const TTL_MS = 2_000
    const OUTAGE_MS = 5 * TTL_MS
    const broker = freshVhost("queue-outage")
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: 5432 })
    const databaseUrl = await db.create()
    const viaProxy = databaseUrl.replace(":5432/", `:${proxy.port}/`)
    const server = await ReplayServer.start()
    const spec = { symbols: SYMBOLS, rate: 10, count: 2_400, start: Date.now() - 10 * 60_000, seed: 9 }
    const sent = sentOf("binance", spec)
    const httpPort = await freePort()
    const daemon = startDaemon(
      {
        ...binanceEnv(server),
        CANDLE_SINK: "queue",
        DATABASE_URL: viaProxy,
        RABBITMQ_URL: broker.url,
        RABBITMQ_OHLCV_TTL_MS: String(TTL_MS),
        HTTP_PORT: String(httpPort),
        DATA_DIR: mkdtempSync(join(tmpdir(), "ingest-queue-outage-")),
      },
      process.cwd(),
    )
    try {
      await until("the candle consumer on ingest.ohlcv", async () => {
        const conn = await amqp.connect(broker.url)
        const ch = await conn.createChannel()
        ch.on("error", () => undefined)
        const q = await ch.checkQueue(INGEST_OHLCV_QUEUE).catch(() => undefined)
        await conn.close().catch(() => undefined)
        return (q?.consumerCount ?? 0) > 0
      })
      proxy.cut()
      const cutAt = Date.now()
      // Only now does the exchange trade: every candle is made, and waits, while the database is away.
      server.play("binance", syntheticTape(spec), {})
      await until("the replay played", () => server.venue("binance").done, 30_000)
      const inOutage = () => Date.now() - cutAt < OUTAGE_MS
      await until(
        "the seed's market.ohlcv dead-lettering expired candles",
        async () => ((await queueDepths(broker.url, [OHLCV_DLQ])).get(OHLCV_DLQ) ?? 0) > 0,
        OUTAGE_MS,
      )
      expect(inOutage()).toBe(true)
      expect(await storedCandles(databaseUrl)).toEqual([])
      await new Promise((r) => setTimeout(r, OUTAGE_MS - (Date.now() - cutAt)))
      proxy.restore()
      await untilStoredComplete(
        databaseUrl,
        expectedFinals(sent, GRACE_MS),
        "every final candle in PostgreSQL, complete, after the outage",
      )
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
      expectCandlesMatch(await storedCandles(databaseUrl), sent, GRACE_MS, { openMayBeMissing: true })
      expect(await queueDepths(broker.url, ["ingest.ohlcv.dlq"])).toEqual(new Map([["ingest.ohlcv.dlq", 0]]))
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
      await proxy.close()
      broker.drop()
    }
  }, 180_000)
})
