import { rmSync } from "node:fs"
import amqp from "amqplib"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { expectCandlesMatch, sentOf } from "../support/candles.js"
import { binanceReplayDaemon, until } from "../support/daemon.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"
import { freshVhost } from "../support/rabbit.js"
import { norm } from "../support/reference.js"

const GRACE_MS = 1_000

/** A redundant fleet's member on `server`'s Binance, writing to `url` and `rabbitUrl`. */
const collector = (
  server: ReplayServer,
  url: string,
  rabbitUrl: string,
  symbols: ReadonlyArray<string>,
  name: string,
) =>
  binanceReplayDaemon(server, url, symbols, {
    RABBITMQ_URL: rabbitUrl,
    FLEET: "redundant-test",
    FLEET_MODE: "redundant",
    FLEET_MEMBER: name,
  })

type Published = {
  exchange: string
  symbol: string
  timeframe: string
  openTime: number
  revision: number
  isFinal: boolean
  complete: boolean
  open: string
  high: string
  low: string
  close: string
  volume: string
  trades: number
}

describe("redundant collectors: two daemons ingest the same symbols into one store", () => {
  const db = scratchDatabase("ingest_redundant")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it("one suffers a withheld-trades gap its REST cannot fill and writes later: every stored candle is complete and equals the reference, and market.ohlcv holds each candle revision once after dedupe", async () => {
    const url = await db.create()
    const vhost = freshVhost("redundant")
    // A consumer's own queue on the candles' routing keys, deduplicating by messageId as the seed's consumers do.
    const conn = await amqp.connect(vhost.url)
    const ch = await conn.createChannel()
    await ch.assertExchange("neuraltrade.market", "topic", { durable: true })
    const q = await ch.assertQueue("", { exclusive: true })
    await ch.bindQueue(q.queue, "neuraltrade.market", "ohlcv.#")
    const firstById = new Map<string, Published>()
    let deliveries = 0
    await ch.consume(
      q.queue,
      (m) => {
        if (m === null) return
        deliveries++
        const id = m.properties.messageId as string
        if (!firstById.has(id)) firstById.set(id, JSON.parse(m.content.toString()) as Published)
      },
      { noAck: true },
    )
    const spec = {
      symbols: ["BTC/USDT", "ETH/USDT"],
      rate: 40,
      count: 8_000,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 4 * 60_000,
      seed: 31,
    }
    const sent = sentOf("binance", spec)
    const good = await ReplayServer.start()
    const gapped = await ReplayServer.start()
    // The same tape at both exchanges' ends; the gapped collector sees it at half the pace, so that its candles
    // reach the store after the good one's and would overwrite them if an incomplete candle could.
    good.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 8 } })
    gapped.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 4 } })
    const venue = gapped.venue("binance")
    venue.restDown = true
    const a = await collector(good, url, vhost.url, spec.symbols, "good")
    const b = await collector(gapped, url, vhost.url, spec.symbols, "gapped")
    try {
      await until(
        "both collectors see each other in the fleet",
        async () => {
          const body = (await fetch(`http://127.0.0.1:${b.httpPort}/api/status`)
            .then((r) => r.json())
            .catch(() => undefined)) as
            { fleet: { mode: string; members: Array<{ member: string }> } | null } | undefined
          return body?.fleet?.mode === "redundant" && body.fleet.members.length === 2
        },
        30_000,
      )
      await until("a third of the gapped tape", () => venue.sent > (spec.count * 2) / 3, 60_000)
      venue.withhold(40)
      await until("both tapes played out", () => good.venue("binance").done && venue.done, 120_000)
      // Both flush at shutdown: the gapped collector's last candles are written after the good one's.
      for (const { daemon } of [a, b]) daemon.process.kill("SIGTERM")
      for (const { daemon } of [a, b]) expect(await daemon.exit).toBe(0)
      expect(b.daemon.output()).toMatch(/trade\(s\) missing/)

      const stored = await storedCandles(url)
      expect(stored.filter((c) => !c.complete && c.is_final)).toEqual([])
      expectCandlesMatch(stored, sent, GRACE_MS, { coldStartUnfilled: false, openMayBeMissing: true })

      // Both published every candle; after dedupe by messageId each revision is there once, and each final one is
      // the candle the store kept.
      await until("the queue drained to the consumer", async () => deliveries > firstById.size, 30_000)
      const revisions = new Map<string, number>()
      for (const c of firstById.values()) {
        const key = `${c.symbol} ${c.timeframe} ${c.openTime} ${c.revision}`
        revisions.set(key, (revisions.get(key) ?? 0) + 1)
      }
      expect([...revisions].filter(([, n]) => n > 1)).toEqual([])
      const final = new Map(
        [...firstById.values()].filter((c) => c.isFinal).map((c) => [`${c.symbol} ${c.timeframe} ${c.openTime}`, c]),
      )
      const finals = stored.filter((c) => c.is_final)
      expect(finals.length).toBeGreaterThan(0)
      for (const row of finals) {
        const c = final.get(`${row.symbol} ${row.timeframe} ${row.timestamp}`)
        expect(c, `${row.symbol} ${row.timeframe} ${row.timestamp} published`).toBeDefined()
        expect([c!.complete, norm(c!.close), norm(c!.volume), c!.trades]).toEqual([
          true,
          norm(row.close),
          norm(row.volume),
          row.trades,
        ])
      }
    } finally {
      await conn.close().catch(() => undefined)
      vhost.drop()
      for (const { daemon, dataDir } of [a, b]) {
        daemon.process.kill("SIGKILL")
        rmSync(dataDir, { recursive: true, force: true })
      }
      await good.close()
      await gapped.close()
    }
  }, 240_000)
})
