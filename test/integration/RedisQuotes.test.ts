import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Redis } from "ioredis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTrades } from "../../src/replay/Synthetic.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import type { ExchangeId } from "../../src/schema/Market.js"
import { expectedFinals, finalsOverHttp, sentOf } from "../support/candles.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { scratchDatabase } from "../support/postgres.js"
import { startRedis, stopRedis } from "../support/redis.js"

const GRACE_MS = 1_000
const QUOTES_PER_SECOND = 4
const OUTAGE_MS = 10_000
/** Symbols of their own per exchange, so that a symbol names one series everywhere. */
const SYMBOLS: Record<ExchangeId, ReadonlyArray<string>> = {
  binance: ["BTC/USDT", "ETH/USDT"],
  coinbase: ["BTC/USD", "ETH/USD"],
  kraken: ["SOL/USD", "ADA/USD"],
  bybit: ["SOL/USDT", "XRP/USDT"],
  okx: ["DOGE/USDT", "LTC/USDT"],
}
const EXCHANGES = Object.keys(SYMBOLS) as Array<ExchangeId>

interface QuoteMessage {
  readonly exchange: string
  readonly symbol: string
  readonly last: number
  readonly timestamp: number
  readonly at: number
}

describe("Redis quotes from the daemon, with a real redis-server it stops for 10 s", () => {
  const db = scratchDatabase("ingest_redis")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it("after a replay run the hashes hold every symbol's last trade with a TTL, `quotes` is conflated to REDIS_QUOTES_PER_SECOND, and a Redis outage loses no candle elsewhere while the quotes resume", async () => {
    const url = await db.create()
    const redisPort = await freePort()
    let redis = await startRedis(redisPort)
    const subscriber = new Redis({ port: redisPort, retryStrategy: () => 200 })
    subscriber.on("error", () => undefined)
    const reader = new Redis({ port: redisPort, retryStrategy: () => 200 })
    reader.on("error", () => undefined)
    const received: Array<QuoteMessage> = []
    subscriber.on("message", (_channel, message: string) =>
      received.push({ ...(JSON.parse(message) as QuoteMessage), at: Date.now() }),
    )
    await subscriber.subscribe("quotes")

    const server = await ReplayServer.start()
    const start = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 60_000
    // Two and a half minutes of exchange time each, played in 50 s.
    const specs = EXCHANGES.map((exchange, i) => ({
      exchange,
      spec: { symbols: SYMBOLS[exchange], rate: 40, count: 6_000, start, seed: 20 + i },
    }))
    for (const { exchange, spec } of specs)
      server.play(exchange, syntheticTape(spec), { pace: { mode: "paced", speed: 3 } })
    const httpPort = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), "ingest-redis-"))
    const env: Record<string, string> = {
      FEEDS: EXCHANGES.join(","),
      DATABASE_URL: url,
      HTTP_PORT: String(httpPort),
      DATA_DIR: dataDir,
      CANDLE_GRACE_MS: String(GRACE_MS),
      RECONCILE_INTERVAL_MS: "0",
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      REDIS_QUOTES_PER_SECOND: String(QUOTES_PER_SECOND),
      REDIS_PRIMARY_EXCHANGE: "binance",
    }
    for (const exchange of EXCHANGES) {
      const prefix = exchange.toUpperCase()
      env[`${prefix}_SYMBOLS`] = SYMBOLS[exchange].join(",")
      env[`${prefix}_WS_URL`] = server.url(exchange)
      env[`${prefix}_REST_URL`] = server.restUrl(exchange)
    }
    const daemon = startDaemon(env, process.cwd())
    try {
      await until("quotes of every exchange", () => EXCHANGES.every((e) => received.some((m) => m.exchange === e)))
      await stopRedis(redis)
      const stoppedAt = Date.now()
      await new Promise((r) => setTimeout(r, OUTAGE_MS))
      redis = await startRedis(redisPort)
      const restartedAt = Date.now()
      expect(restartedAt - stoppedAt).toBeGreaterThanOrEqual(OUTAGE_MS)

      await until("every tape played out", () => EXCHANGES.every((e) => server.venue(e).done), 120_000)
      // The other sinks lost nothing: every candle that must be final is stored final (and complete where it can be).
      for (const { exchange, spec } of specs) {
        const sent = sentOf(exchange, spec)
        const finals = expectedFinals(sent, GRACE_MS)
        await until(
          `${exchange}'s final candles in PostgreSQL`,
          async () => {
            const stored = await finalsOverHttp(httpPort, sent)
            return [...finals].every((k) => stored.has(k))
          },
          60_000,
        )
      }

      // Each hash holds its symbol's last trade, with a TTL of at most 60 s; the primary's plain key too.
      for (const { exchange, spec } of specs)
        for (const symbol of spec.symbols) {
          const last = syntheticTrades(spec)
            .filter((t) => t.symbol === symbol)
            .at(-1)!
          const key = `quote:${exchange}:${symbol}`
          await until(`${key} at the last trade`, async () => (await reader.hget(key, "timestamp")) === String(last.ts))
          const hash = await reader.hgetall(key)
          expect(Number(hash.last), key).toBe(Number(last.price))
          expect(Object.keys(hash).sort()).toEqual(["ask", "bid", "last", "timestamp", "volume"])
          const ttl = await reader.ttl(key)
          expect(ttl, key).toBeGreaterThan(0)
          expect(ttl, key).toBeLessThanOrEqual(60)
          if (exchange === "binance") expect(await reader.hgetall(`quote:${symbol}`)).toEqual(hash)
        }

      // The quotes resumed for every symbol after the outage, and none came faster than the configured rate.
      for (const exchange of EXCHANGES)
        for (const symbol of SYMBOLS[exchange]) {
          const times = received.filter((m) => m.exchange === exchange && m.symbol === symbol).map((m) => m.at)
          expect(
            times.some((t) => t > restartedAt),
            `${exchange} ${symbol} after the outage`,
          ).toBe(true)
          const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1_000).length))
          // Publications are spaced 1/rate apart; delivery jitter may bring one more into a second's window.
          expect(busiest, `${exchange} ${symbol}`).toBeLessThanOrEqual(QUOTES_PER_SECOND + 1)
        }
      // The outage was logged once, and its end.
      expect(daemon.output().match(/Redis unavailable/g)).toHaveLength(1)
      expect(daemon.output()).toContain("Redis is back")
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      daemon.process.kill("SIGKILL")
      subscriber.disconnect()
      reader.disconnect()
      await stopRedis(redis)
      await server.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 300_000)
})
