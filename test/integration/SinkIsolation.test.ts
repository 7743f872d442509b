import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import amqp from "amqplib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { MARKET } from "../../src/domain/Topology.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTrades } from "../../src/replay/Synthetic.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import { query, scratchDatabase } from "../support/postgres.js"
import { FAULT_BROKER } from "../support/rabbit.js"

const RABBIT = FAULT_BROKER.url
const ctl = FAULT_BROKER.ctl
const SYMBOLS = ["BTC/USDT", "ETH/USDT"]
const OUTAGE_MS = 60_000

/**
 * Everything the market exchange routes, through a quorum queue of the test's own (it keeps even non-persistent
 * messages across a broker restart), consumed by a client that reconnects after the outage. Ticks and candles are
 * kept in arrival order with their message ids.
 */
const marketTap = async (queue: string) => {
  const ticks = new Map<string, Array<number>>()
  const candleIds = new Set<string>()
  let tickMessages = 0
  let conn: amqp.ChannelModel | undefined
  let stopped = false
  const connect = async (): Promise<void> => {
    while (!stopped)
      try {
        conn = await amqp.connect(RABBIT)
        conn.on("error", () => undefined)
        conn.on("close", () => {
          if (!stopped) setTimeout(() => void connect(), 500)
        })
        const ch = await conn.createChannel()
        await ch.assertExchange(MARKET, "topic", { durable: true })
        await ch.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } })
        await ch.bindQueue(queue, MARKET, "#")
        await ch.prefetch(1_000)
        await ch.consume(queue, (msg) => {
          if (msg === null) return
          if (msg.fields.routingKey.startsWith("tick.")) {
            tickMessages++
            const body = JSON.parse(msg.content.toString()) as { symbol: string; ticks: Array<{ tradeId: string }> }
            const list = ticks.get(body.symbol) ?? []
            for (const t of body.ticks) list.push(Number(t.tradeId))
            ticks.set(body.symbol, list)
          } else if (msg.fields.routingKey.startsWith("ohlcv.")) candleIds.add(msg.properties.messageId as string)
          ch.ack(msg)
        })
        return
      } catch {
        await new Promise((r) => setTimeout(r, 500))
      }
  }
  await connect()
  return {
    ticks,
    candleIds,
    tickMessages: () => tickMessages,
    close: async () => {
      stopped = true
      const c = await amqp.connect(RABBIT)
      const ch = await c.createChannel()
      await ch.deleteQueue(queue)
      await c.close()
      await conn?.close().catch(() => undefined)
    },
  }
}

/** First occurrences only, in arrival order. */
const firsts = (ids: ReadonlyArray<number>) => [...new Set(ids)]

describe("one stopped sink never stops the others", () => {
  const db = scratchDatabase("ingest_isolation")
  beforeAll(() => db.start())
  afterAll(async () => {
    // Whatever happened, the machine's broker is left running for the tests after this one.
    ctl("start_app")
    await db.stop()
  })

  it("RabbitMQ stopped for 60 s mid-stream: candles reach PostgreSQL meanwhile, the feed reads on, and afterwards every tick and candle is in the queue, in order per symbol", async () => {
    const tap = await marketTap(`test.isolation.${process.pid}`)
    const server = await ReplayServer.start()
    // 90 s of trades at 40/s; a minute boundary falls about 25 s in, inside the outage.
    const minute = Math.floor(Date.now() / 60_000) * 60_000
    const spec = { symbols: SYMBOLS, rate: 40, count: 3_600, start: minute - 10 * 60_000 - 25_000, seed: 11 }
    const sent = new Map<string, Array<number>>()
    for (const t of syntheticTrades(spec)) sent.set(t.symbol, [...(sent.get(t.symbol) ?? []), t.id])
    server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 1 } })
    const databaseUrl = await db.create()
    const httpPort = await freePort()
    const daemon = startDaemon(
      {
        FEEDS: "binance",
        BINANCE_SYMBOLS: SYMBOLS.join(","),
        BINANCE_WS_URL: server.url("binance"),
        BINANCE_REST_URL: server.restUrl("binance"),
        DATABASE_URL: databaseUrl,
        RABBITMQ_URL: RABBIT,
        HTTP_PORT: String(httpPort),
        DATA_DIR: mkdtempSync(join(tmpdir(), "ingest-isolation-")),
        RECONCILE_INTERVAL_MS: "0",
        STORE_FLUSH_MS: "100",
      },
      process.cwd(),
    )
    const finals = async () =>
      Number((await query<{ n: string }>(databaseUrl, "SELECT count(*) AS n FROM ohlcv_candles WHERE is_final"))[0]!.n)
    try {
      await until("ticks through RabbitMQ", () => tap.tickMessages() > 5, 30_000)
      const before = {
        finals: await finals(),
        reconnects: await metric(httpPort, "feed_reconnects_total", 'exchange="binance"'),
        pauses: await metric(httpPort, "feed_socket_pauses_total", 'exchange="binance"'),
        frames: await metric(httpPort, "feed_frames_received_total", 'exchange="binance"'),
      }
      ctl("stop_app")
      const stoppedAt = Date.now()
      let finalsDuringOutage = 0
      while (Date.now() - stoppedAt < OUTAGE_MS) {
        await new Promise((r) => setTimeout(r, 2_000))
        finalsDuringOutage = (await finals()) - before.finals
      }
      const during = {
        reconnects: await metric(httpPort, "feed_reconnects_total", 'exchange="binance"'),
        pauses: await metric(httpPort, "feed_socket_pauses_total", 'exchange="binance"'),
        frames: await metric(httpPort, "feed_frames_received_total", 'exchange="binance"'),
        spilled: await metric(httpPort, "sink_spilled_records_total", 'sink="rabbitmq"'),
      }
      ctl("start_app")
      await until("the tape played out", () => server.venue("binance").done, 120_000)
      const allTicks = () => SYMBOLS.every((s) => firsts(tap.ticks.get(s) ?? []).length === sent.get(s)!.length)
      await until("every tick in the queue after the outage", allTicks, 120_000)
      const rows = await query<{ symbol: string; timeframe: string; timestamp: string; revision: number }>(
        databaseUrl,
        `SELECT symbol, timeframe, "timestamp"::text, revision FROM ohlcv_candles WHERE is_final`,
      )
      const candleIds = rows.map((r) => `binance:${r.symbol}:${r.timeframe}:${r.timestamp}:${r.revision}`)
      await until("every final candle in the queue", () => candleIds.every((id) => tap.candleIds.has(id)), 60_000)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)

      // Meanwhile PostgreSQL kept getting final candles, and the feed kept reading without a pause or reconnect.
      expect(finalsDuringOutage).toBeGreaterThan(0)
      expect(during.reconnects).toBe(before.reconnects)
      expect(during.pauses).toBe(before.pauses)
      expect(during.frames - before.frames).toBeGreaterThan(0.8 * 40 * (OUTAGE_MS / 1_000))
      expect(during.spilled).toBeGreaterThan(0)
      // Every tick of the run, once each after dedupe, in trade order per symbol; every final candle too.
      for (const s of SYMBOLS) expect(firsts(tap.ticks.get(s)!)).toEqual(sent.get(s))
      expect(candleIds.length).toBeGreaterThan(0)
      expect(candleIds.filter((id) => !tap.candleIds.has(id))).toEqual([])
    } finally {
      ctl("start_app")
      daemon.process.kill("SIGKILL")
      await server.close()
      await tap.close()
    }
  }, 300_000)
})
