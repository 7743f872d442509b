import amqp, { type ConsumeMessage } from "amqplib"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { INGEST_OHLCV_QUEUE, MARKET, NOTIFICATIONS, TICKS_QUEUE } from "../../src/domain/Topology.js"
import type { Notification } from "../../src/domain/Incidents.js"
import { declareTopology } from "../../src/layers/Rabbit.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { startOtlpReceiver } from "../support/otlp.js"
import { query, scratchDatabase } from "../support/postgres.js"
import { scrape, total } from "../support/prometheus.js"
import { FAULT_BROKER } from "../support/rabbit.js"

const RABBIT = FAULT_BROKER.url
const ctl = FAULT_BROKER.ctl
const SYMBOLS = ["BTC/USDT", "ETH/USDT"]

/** A broker connection of the test's own, with the seed topology declared. */
/** OTLP's SpanKind numbers. */
const SPAN_KIND_PRODUCER = 4
const SPAN_KIND_CONSUMER = 5

const observer = async () => {
  const conn = await amqp.connect(RABBIT)
  await Effect.runPromise(declareTopology(conn))
  const ch = await conn.createChannel()
  /** Empties a queue if it exists; on a channel of its own, which the broker closes when it does not. */
  const purge = async (queue: string) => {
    const own = await conn.createChannel()
    own.on("error", () => undefined)
    await own.purgeQueue(queue).catch(() => undefined)
    await own.close().catch(() => undefined)
  }
  /** Every message routed to a fresh exclusive queue bound as given, from now on. */
  const tap = async (exchange: string, key: string) => {
    const got: Array<ConsumeMessage> = []
    const q = await ch.assertQueue("", { exclusive: true, autoDelete: true })
    await ch.bindQueue(q.queue, exchange, key)
    await ch.consume(q.queue, (m) => m && got.push(m), { noAck: true })
    return got
  }
  return { conn, ch, tap, purge }
}

const rows = async (databaseUrl: string) =>
  Number((await query<{ n: string }>(databaseUrl, "SELECT count(*)::text AS n FROM ohlcv_candles"))[0]!.n)

const baseEnv = async (server: ReplayServer, databaseUrl: string) => ({
  FEEDS: "binance",
  BINANCE_SYMBOLS: SYMBOLS.join(","),
  BINANCE_WS_URL: server.url("binance"),
  BINANCE_REST_URL: server.restUrl("binance"),
  DATABASE_URL: databaseUrl,
  RABBITMQ_URL: RABBIT,
  HTTP_PORT: String(await freePort()),
  TIMEFRAMES: "1m",
  CANDLE_GRACE_MS: "2000",
  STORE_FLUSH_MS: "100",
  FEED_RECONNECT_BASE_MS: "100",
})

describe("observability against the real broker and database", () => {
  const db = scratchDatabase("ingest_obs")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it("traces one candle from feed through RabbitMQ to the store, counts what it did on /metrics, and raises one alert per incident", async () => {
    const databaseUrl = await db.create()
    const otlp = await startOtlpReceiver()
    const broker = await observer()
    const server = await ReplayServer.start()
    const venue = server.venue("binance")
    try {
      await broker.purge(INGEST_OHLCV_QUEUE)
      const notifications = await broker.tap(NOTIFICATIONS, "")
      const candleMessages = await broker.tap(MARKET, "ohlcv.#")
      // Three minutes of exchange time on two symbols, played at 8× (about 22 s).
      const start = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000
      server.play("binance", syntheticTape({ symbols: SYMBOLS, rate: 20, count: 3_600, start, seed: 11 }), {
        pace: { mode: "paced", speed: 8 },
      })
      const env = {
        ...(await baseEnv(server, databaseUrl)),
        CANDLE_SINK: "queue",
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_SERVICE_NAME: "ingest-under-test",
        OTEL_TRACES_SAMPLER_ARG: "1",
        ALERT_SYMBOL_SILENT_MS: "2500",
      }
      const httpPort = Number(env.HTTP_PORT)
      const daemon = startDaemon(env, process.cwd())
      let counts: Record<string, number>
      try {
        const alerts = () => notifications.map((m) => JSON.parse(m.content.toString()) as Notification)
        const silentEth = (state: string) =>
          alerts().filter((n) => n.rule === "symbol_silent" && n.symbol === "ETH/USDT" && n.state === state)

        // Silence one symbol on the replay exchange: one warning after the threshold, one resolution after.
        await until("a fifth of the tape", () => venue.sent > 1_400, 30_000)
        venue.silence("ETH/USDT", true)
        await until("the ETH silence alert", () => silentEth("open").length > 0, 15_000)
        await new Promise((r) => setTimeout(r, 2_000))
        venue.silence("ETH/USDT", false)
        await until("its resolution", () => silentEth("resolved").length > 0, 10_000)

        await until("the tape to finish", () => venue.done, 60_000)
        await until("every frame counted on /metrics", async () => {
          const m = await scrape(httpPort)
          return total(m, "feed_frames_received_total", { exchange: "binance" }) === venue.framesSent
        })
        // Every candle built was published, consumed and stored, and each counter says so.
        const settled = async () => {
          const m = await scrape(httpPort)
          const emitted = total(m, "candles_emitted_total")
          const counts = {
            emitted,
            published: total(m, "rabbitmq_published_total", { kind: "candle" }),
            acked: total(m, "rabbitmq_consumed_total", { queue: INGEST_OHLCV_QUEUE, outcome: "acked" }),
            stored: total(m, "candles_stored_total", { sink: "postgres" }),
            rows: (await rows(databaseUrl)) + total(m, "candle_revisions_total"),
          }
          return { m, counts, ok: emitted > 0 && Object.values(counts).every((n) => n === emitted) }
        }
        await until("candles published, consumed and stored", async () => (await settled()).ok, 30_000)
        const final = await settled()
        const m = final.m
        counts = final.counts
        expect(counts.emitted).toBeGreaterThanOrEqual(4)
        expect(total(m, "trades_received_total", { exchange: "binance", symbol: "BTC/USDT" })).toBeGreaterThan(1_000)
        expect(total(m, "trade_gaps_total", { symbol: "ETH/USDT" })).toBe(1)
        expect(total(m, "rabbitmq_consumers", { queue: INGEST_OHLCV_QUEUE })).toBe(1)
        expect(total(m, "component_up", { component: "rabbitmq" })).toBe(1)
        expect(total(m, "component_up", { component: "feed:binance" })).toBe(1)
        expect(total(m, "mailbox_capacity", { actor: "aggregator:binance:BTC/USDT" })).toBe(4_096)
        expect(total(m, "end_to_end_latency_ms_count", { sink: "postgres" })).toBeGreaterThan(0)
        expect(total(m, "end_to_end_latency_ms_count", { sink: "rabbitmq", kind: "tick" })).toBeGreaterThan(0)
        expect(total(m, "feed_batch_frames_count", { exchange: "binance" })).toBeGreaterThan(0)
        expect(total(m, "alerts_total", { rule: "symbol_silent", state: "open" })).toBe(1)

        const status = (await (await fetch(`http://127.0.0.1:${httpPort}/api/status`)).json()) as {
          feeds: Array<{
            exchange: string
            connections: Array<{ state: string }>
            symbols: Array<{
              symbol: string
              state: string
              trades: number
              gaps: number
              backfill: { unfilledGaps: number; trades: number }
              ingestion: Array<unknown>
            }>
          }>
        }
        const feed = status.feeds.find((f) => f.exchange === "binance")!
        expect(feed.connections.map((c) => c.state)).toEqual(["connected"])
        const eth = feed.symbols.find((s) => s.symbol === "ETH/USDT")!
        expect(eth.gaps).toBe(1)
        // The trades the silence kept from us are fetched from the replay's REST history.
        expect(eth.backfill.unfilledGaps).toBe(0)
        expect(eth.backfill.trades).toBeGreaterThan(0)
        expect(eth.trades).toBeGreaterThan(0)
        expect(eth.ingestion).toHaveLength(1)

        daemon.process.kill("SIGTERM")
        expect(await daemon.exit).toBe(0)
      } finally {
        daemon.process.kill("SIGKILL")
      }

      // Exactly one incident each way for the silenced symbol; the busy one never alerted; the gap, filled at once, did not.
      const all = notifications.map((n) => JSON.parse(n.content.toString()) as Notification)
      const silent = all.filter((n) => n.rule === "symbol_silent")
      expect(silent.map((n) => [n.symbol, n.state, n.severity])).toEqual([
        ["ETH/USDT", "open", "warning"],
        ["ETH/USDT", "resolved", "warning"],
      ])
      expect(silent[0]!.id).toBe(silent[1]!.id)
      expect(all.filter((n) => n.rule === "trade_gap")).toEqual([])
      expect(all.filter((n) => n.rule === "all_silent")).toEqual([])
      expect(daemon.output()).toMatch(/"level":"warn","message":"alert \(symbol_silent\): binance ETH\/USDT/)

      // The trace: Feed.frames → Aggregator.finalise ⇠ (linked from) Publisher.batch, the PRODUCER span each message
      // names → (RabbitMQ) → Consumer.message, its CONSUMER child → CandleStore.upsert.
      const spans = otlp.spans
      const byId = new Map(spans.map((s) => [s.spanId, s]))
      expect(new Set(spans.map((s) => s.service))).toEqual(new Set(["ingest-under-test"]))
      const named = (name: string) => spans.filter((s) => s.name === name)
      const consumed = named("Consumer.message").filter(
        (s) => s.attributes["messaging.destination.name"] === INGEST_OHLCV_QUEUE,
      )
      expect(consumed.length).toBeGreaterThanOrEqual(counts.acked)
      for (const c of consumed) {
        const publish = byId.get(c.parentSpanId!)
        expect(publish?.name).toBe("Publisher.batch")
        expect([publish!.kind, c.kind]).toEqual([SPAN_KIND_PRODUCER, SPAN_KIND_CONSUMER])
        expect(publish!.traceId).toBe(c.traceId)
        const finalise = publish!.links.map((l) => byId.get(l.spanId)).find((s) => s?.name === "Aggregator.finalise")
        expect(finalise).toBeDefined()
        const frames = byId.get(finalise!.parentSpanId!)
        expect(frames?.name).toBe("Feed.frames")
        expect(frames!.traceId).toBe(finalise!.traceId)
        expect(frames!.attributes["exchange"]).toBe("binance")
        expect(frames!.attributes["frames"]).toBeGreaterThanOrEqual(1)
        expect(SYMBOLS).toContain(finalise!.attributes["symbol"])
        expect(finalise!.attributes["candles"]).toBeGreaterThanOrEqual(1)
        expect(c.attributes["messaging.system"]).toBe("rabbitmq")
      }
      const upserts = named("CandleStore.upsert").filter(
        (u) => byId.get(u.parentSpanId ?? "")?.name === "Consumer.message",
      )
      expect(upserts.length).toBe(consumed.length)
      expect(upserts.every((u) => u.traceId === byId.get(u.parentSpanId!)!.traceId)).toBe(true)
      const finaliseIds = new Set(named("Aggregator.finalise").map((s) => s.spanId))
      expect(named("Publisher.batch").some((b) => b.links.some((l) => finaliseIds.has(l.spanId)))).toBe(true)

      // Issue 4: every candle message names its producer's span in a W3C traceparent, beside its id and timestamp.
      // Published while running, plus the open candles' snapshots at shutdown.
      expect(candleMessages.length).toBeGreaterThanOrEqual(counts.published)
      for (const msg of candleMessages) {
        const tp = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(String(msg.properties.headers?.["traceparent"]))
        expect(tp).not.toBeNull()
        const producer = byId.get(tp![2]!)
        expect(producer?.name).toBe("Publisher.batch")
        expect(producer!.kind).toBe(SPAN_KIND_PRODUCER)
        expect(producer!.traceId).toBe(tp![1])
        const candle = JSON.parse(msg.content.toString()) as { symbol: string; openTime: number; closeTime: number }
        expect(msg.properties.messageId).toMatch(new RegExp(`^binance:${candle.symbol}:1m:${candle.openTime}:\\d+$`))
        expect(msg.properties.timestamp).toBe(Math.floor(candle.closeTime / 1_000))
      }
    } finally {
      await broker.conn.close()
      await server.close()
      await otlp.close()
    }
  }, 180_000)

  it("counts the nacks of a full market.ticks and every tick once the queue drains", async () => {
    const databaseUrl = await db.create()
    const broker = await observer()
    const server = await ReplayServer.start()
    const venue = server.venue("binance")
    try {
      await broker.ch.purgeQueue(TICKS_QUEUE)
      const filler = Buffer.from("{}")
      for (let i = 0; i < 100_000; i++) broker.ch.publish(MARKET, "tick.fill.X_Y", filler)
      await until("market.ticks full", async () => (await broker.ch.checkQueue(TICKS_QUEUE)).messageCount >= 100_000)
      const start = Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000
      server.play("binance", syntheticTape({ symbols: SYMBOLS, rate: 20, count: 600, start, seed: 5 }))
      const env = await baseEnv(server, databaseUrl)
      const httpPort = Number(env.HTTP_PORT)
      const daemon = startDaemon(env, process.cwd())
      try {
        await until(
          "nacks counted",
          async () => total(await scrape(httpPort).catch(() => []), "rabbitmq_nacked_total", { kind: "tick" }) > 0,
        )
        await broker.ch.purgeQueue(TICKS_QUEUE)
        await until("the tape to finish", () => venue.done, 60_000)
        await until("every tick confirmed", async () => {
          const m = await scrape(httpPort)
          return total(m, "rabbitmq_published_total", { kind: "tick" }) === 600
        })
        const m = await scrape(httpPort)
        expect(total(m, "trades_received_total")).toBe(600)
        expect(total(m, "rabbitmq_nacked_total", { kind: "tick" })).toBeGreaterThan(0)
        expect(total(m, "rabbitmq_publish_batch_messages_count")).toBeGreaterThan(0)
        daemon.process.kill("SIGTERM")
        expect(await daemon.exit).toBe(0)
      } finally {
        daemon.process.kill("SIGKILL")
      }
    } finally {
      await broker.ch.purgeQueue(TICKS_QUEUE)
      await broker.conn.close()
      await server.close()
    }
  }, 120_000)

  it("turns /readyz unhealthy within seconds of RabbitMQ stopping, and healthy again after it returns", async () => {
    const databaseUrl = await db.create()
    const server = await ReplayServer.start()
    const env = await baseEnv(server, databaseUrl)
    const readyz = async () => {
      const res = await fetch(`http://127.0.0.1:${env.HTTP_PORT}/readyz`)
      return { status: res.status, body: (await res.json()) as { unhealthy: Array<string> } }
    }
    const daemon = startDaemon(env, process.cwd())
    try {
      await until("ready", async () => (await readyz().catch(() => ({ status: 0 }))).status === 200)
      ctl("stop_app")
      const stopped = Date.now()
      try {
        await until("unready", async () => (await readyz()).status === 503, 10_000)
        expect(Date.now() - stopped).toBeLessThan(5_000)
        expect((await readyz()).body.unhealthy).toContain("rabbitmq")
      } finally {
        ctl("start_app")
      }
      await until("ready again", async () => (await readyz()).status === 200, 60_000)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 120_000)
})
