import amqp from "amqplib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { INGEST_OHLCV_QUEUE, OHLCV_QUEUE } from "../../src/domain/Topology.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import type { SyntheticSpec } from "../../src/replay/Synthetic.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import type { ExchangeId } from "../../src/schema/Market.js"
import { expectCandlesMatch, expectedFinals, finalsOverHttp, sentOf } from "../support/candles.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import { query, scratchDatabase, storedCandles } from "../support/postgres.js"
import { FAULT_BROKER, freshVhost } from "../support/rabbit.js"

const GRACE_MS = 2_000
const EXCHANGES: ReadonlyArray<ExchangeId> = ["binance", "coinbase", "kraken", "bybit", "okx"]

const symbolsOf = (exchange: ExchangeId) =>
  exchange === "coinbase" || exchange === "kraken" ? ["BTC/USD", "ETH/USD"] : ["BTC/USDT", "ETH/USDT"]

/** Four minutes of trades on two symbols, ending well in the past, so that every minute but the last closes. */
const specFor = (exchange: ExchangeId, count = 2_400): SyntheticSpec & { count: number } => ({
  symbols: symbolsOf(exchange),
  rate: 10,
  count,
  start: Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000,
  seed: EXCHANGES.indexOf(exchange) + 1,
})

/**
 * Runs the daemon on FEEDS=<exchanges> against the replay exchange, each venue replaying its synthetic tape with a
 * drop of every connection halfway (and the venue's snapshot or a re-send of recent frames on reconnect), then
 * checks every stored candle of every exchange against the trades sent.
 */
const scenario = async (
  databaseUrl: string,
  exchanges: ReadonlyArray<ExchangeId>,
  during: (server: ReplayServer) => Promise<void> = async () => {},
  extraEnv: Record<string, string> = {},
) => {
  // Through the queue, the open candles' shutdown snapshots wait in ingest.ohlcv for the next consumer.
  const openMayBeMissing = extraEnv.CANDLE_SINK === "queue"
  const server = await ReplayServer.start()
  const sent = exchanges.map((exchange) => {
    const spec = specFor(exchange)
    const venue = server.venue(exchange)
    venue.play([], {})
    server.play(exchange, syntheticTape(spec), { dropAt: Math.floor((spec.count * 2) / 2), rewind: 20 })
    return sentOf(exchange, spec)
  })
  const httpPort = await freePort()
  const env: Record<string, string> = {
    FEEDS: exchanges.join(","),
    DATABASE_URL: databaseUrl,
    HTTP_PORT: String(httpPort),
    CANDLE_GRACE_MS: String(GRACE_MS),
    FEED_RECONNECT_BASE_MS: "100",
    STORE_FLUSH_MS: "100",
    ...extraEnv,
  }
  for (const e of exchanges) {
    env[`${e.toUpperCase()}_SYMBOLS`] = symbolsOf(e).join(",")
    env[`${e.toUpperCase()}_WS_URL`] = server.url(e)
    env[`${e.toUpperCase()}_REST_URL`] = server.restUrl(e)
  }
  const daemon = startDaemon(env, process.cwd())
  try {
    await during(server)
    await until(
      "every replay to finish after a reconnect",
      () => exchanges.every((e) => server.venue(e).done && server.venue(e).connections >= 2),
      60_000,
    )
    await until("final candles in the store", async () => {
      for (const s of sent) {
        const got = await finalsOverHttp(httpPort, s).catch(() => new Set<string>())
        if (![...expectedFinals(s, GRACE_MS)].every((k) => got.has(k))) return false
      }
      return true
    })
    const metrics = {
      gaps: await Promise.all(exchanges.map((e) => metric(httpPort, "trade_gaps_total", `exchange="${e}"`))),
      rotations: await metric(httpPort, "feed_rotations_total", 'exchange="binance"'),
    }
    daemon.process.kill("SIGTERM")
    expect(await daemon.exit).toBe(0)
    const stored = await storedCandles(databaseUrl)
    for (const s of sent) expectCandlesMatch(stored, s, GRACE_MS, { openMayBeMissing })
    expect(metrics.gaps).toEqual(exchanges.map(() => 0))
    return { output: daemon.output(), metrics }
  } finally {
    daemon.process.kill("SIGKILL")
    await server.close()
  }
}

describe("the daemon against the replay exchange, per exchange", () => {
  const db = scratchDatabase("ingest_ex")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it.each(EXCHANGES)(
    "%s: subscribes, receives, reconnects after a drop, resubscribes, and counts no re-sent trade twice",
    async (exchange) => {
      const { output } = await scenario(await db.create(), [exchange])
      expect(output).toContain("reconnecting")
    },
    120_000,
  )

  it("runs FEEDS=binance,coinbase,kraken,bybit,okx at once", async () => {
    await scenario(await db.create(), EXCHANGES)
  }, 180_000)

  it("CANDLE_SINK=queue: candles reach PostgreSQL through ingest.ohlcv and a consumer, exactly as written directly", async () => {
    const conn = await amqp.connect(FAULT_BROKER.url)
    try {
      // Candles left by other tests would be consumed into this database.
      const ch = await conn.createChannel()
      // The queue does not exist before the first queue-mode run: the broker then closes the channel.
      ch.on("error", () => undefined)
      await ch.purgeQueue(INGEST_OHLCV_QUEUE).catch(() => undefined)
    } finally {
      await conn.close()
    }
    const { output } = await scenario(await db.create(), ["okx"], async () => {}, {
      RABBITMQ_URL: FAULT_BROKER.url,
      CANDLE_SINK: "queue",
    })
    expect(output).toContain(`RabbitMQ: connected to amqp://${FAULT_BROKER.hostPort}`)
    expect(output).not.toContain("guest:guest")
  }, 120_000)

  it("publishes every final candle to market.ohlcv through a dropped connection and a broker restart", async () => {
    const rabbit = FAULT_BROKER.url
    const ctl = FAULT_BROKER.ctl
    const withChannel = async <A>(f: (ch: amqp.Channel) => Promise<A>) => {
      const conn = await amqp.connect(rabbit)
      try {
        return await f(await conn.createChannel())
      } finally {
        await conn.close()
      }
    }
    await withChannel((ch) => ch.purgeQueue(OHLCV_QUEUE))
    const url = await db.create()
    let output = ""
    try {
      ;({ output } = await scenario(
        url,
        ["binance"],
        async (server) => {
          const venue = server.venue("binance")
          // Paced, so that candles are being published while the broker goes away.
          server.play("binance", syntheticTape(specFor("binance")), {
            pace: { mode: "paced", speed: 20 },
            dropAt: 3_600,
          })
          await until("a quarter of the tape", () => venue.sent >= 1_200, 60_000)
          ctl("close_all_connections", "fault test")
          await new Promise((r) => setTimeout(r, 1_000))
          ctl("stop_app")
          await new Promise((r) => setTimeout(r, 2_000))
          ctl("start_app")
        },
        { RABBITMQ_URL: rabbit },
      ))
    } finally {
      ctl("start_app")
    }
    // Each loss is logged with the broker's own reason: who closed the connection and why.
    const lost = output
      .split("\n")
      .filter((l) => l.includes(`RabbitMQ: connection to amqp://${FAULT_BROKER.hostPort} lost (`))
    expect(lost.some((l) => l.includes("CONNECTION-FORCED") && l.includes("fault test"))).toBe(true)
    const messages = await withChannel(async (ch) => {
      const out: Array<amqp.GetMessage> = []
      for (
        let m = await ch.get(OHLCV_QUEUE, { noAck: true });
        m !== false;
        m = await ch.get(OHLCV_QUEUE, { noAck: true })
      )
        out.push(m)
      return out
    })
    const byId = new Map<string, string>()
    for (const m of messages) {
      const id = m.properties.messageId as string
      // A republished message is the same message.
      if (byId.has(id)) expect(m.content.toString()).toBe(byId.get(id))
      byId.set(id, m.content.toString())
    }
    const finals = await query<{ symbol: string; timeframe: string; timestamp: string; revision: number }>(
      url,
      `SELECT symbol, timeframe, "timestamp"::text AS timestamp, revision FROM ohlcv_candles WHERE is_final`,
    )
    // Two symbols, four minutes of trades: at least three closed 1m candles each.
    expect(finals.length).toBeGreaterThanOrEqual(6)
    for (const c of finals)
      expect(byId.has(`binance:${c.symbol}:${c.timeframe}:${c.timestamp}:${c.revision}`)).toBe(true)
  }, 180_000)

  it("a broker whose market.ohlcv was declared elsewhere with other arguments: the daemon stays up, says so once per connect, and candles reach PostgreSQL and the exchange", async () => {
    const { url: rabbit, drop } = freshVhost("conflict", FAULT_BROKER)
    try {
      const conn = await amqp.connect(rabbit)
      const ch = await conn.createChannel()
      // The earlier declaration: dead letters under the queue's own name, not the seed's DLQ name.
      await ch.assertQueue(OHLCV_QUEUE, {
        durable: true,
        arguments: {
          "x-dead-letter-exchange": "neuraltrade.dlx",
          "x-dead-letter-routing-key": OHLCV_QUEUE,
          "x-message-ttl": 300_000,
        },
      })
      await conn.close()
      const { output } = await scenario(await db.create(), ["okx"], async () => {}, { RABBITMQ_URL: rabbit })
      const conflicts = output.split("\n").filter((l) => l.includes("already exist with other arguments"))
      expect(conflicts).toHaveLength(1)
      expect(conflicts[0]).toContain("inequivalent arg 'x-dead-letter-routing-key'")
      const check = await amqp.connect(rabbit)
      const stored = (await (await check.createChannel()).checkQueue(OHLCV_QUEUE)).messageCount
      await check.close()
      expect(stored).toBeGreaterThan(0)
    } finally {
      drop()
    }
  }, 120_000)

  it("rotates a Binance connection on serverShutdown mid-stream with candles equal to an uninterrupted run", async () => {
    const { metrics, output } = await scenario(
      await db.create(),
      ["binance"],
      async (server) => {
        const venue = server.venue("binance")
        // Paced, so that the stream is still flowing while both connections are open.
        server.play("binance", syntheticTape(specFor("binance")), { pace: { mode: "paced", speed: 40 } })
        await until("a quarter of the tape", () => venue.sent >= 1_200, 60_000)
        venue.shutdownNotice(3_000)
        await until("the old connection to go", () => venue.connections === 2 && venue.clients.size === 1, 30_000)
      },
      { FEED_ROTATION_OVERLAP_MS: "1000" },
    )
    expect(metrics.rotations).toBe(1)
    expect(output).toContain("replacing the connection (server notice: serverShutdown)")
    expect(output).not.toContain("reconnecting")
  }, 120_000)
})
