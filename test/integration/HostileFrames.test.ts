import { readFileSync } from "node:fs"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { SymbolMap } from "../../src/domain/SymbolMap.js"
import { VENUES } from "../../src/exchanges/registry.js"
import { withLimits } from "../../src/exchanges/Venue.js"
import { PROTOCOLS } from "../../src/exchanges/registry.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { type SyntheticSpec, synthetic } from "../../src/replay/Synthetic.js"
import type { Tape, TapeItem } from "../../src/replay/Tape.js"
import type { ExchangeId } from "../../src/schema/Market.js"
import { expectCandlesMatch, sentOf } from "../support/candles.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { flipped, pathsOf, replacedAt } from "../support/hostile.js"
import { scratchDatabase, storedCandles } from "../support/postgres.js"

const EXCHANGES: ReadonlyArray<ExchangeId> = ["binance", "coinbase", "kraken", "bybit", "okx"]
const GRACE_MS = 2_000
/** Frames per venue, all through one connection: each trade's frame and its quote's, then HOSTILE_PER_TRADE. */
const FRAMES = Number(process.env.HOSTILE_FRAMES ?? 1_000_000)
const HOSTILE_PER_TRADE = 2
const TRADES = FRAMES / (2 + HOSTILE_PER_TRADE)
/**
 * Memory is bounded by construction: V8's old generation is capped, so a leak would end the process (and fail the
 * test), and the peak RSS of the run's last quarter may exceed its second quarter's by at most RSS_GROWTH.
 */
const OLD_SPACE_MB = 256
const RSS_LIMIT_MB = 600
const RSS_GROWTH = 1.25

const symbolsOf = (e: ExchangeId) =>
  e === "coinbase" || e === "kraken" ? ["BTC/USD", "ETH/USD"] : ["BTC/USDT", "ETH/USDT"]

/** Trades at 1,000/s of exchange time, all in the past, so every minute but the last closes during the run. */
const specFor = (exchange: ExchangeId): SyntheticSpec & { count: number } => ({
  symbols: symbolsOf(exchange),
  rate: 1_000,
  count: TRADES,
  start: Math.floor(Date.now() / 60_000) * 60_000 - Math.ceil(TRADES / 1_000 / 60 + 2) * 60_000,
  seed: EXCHANGES.indexOf(exchange) + 11,
})

const HOSTILE_VALUES: ReadonlyArray<unknown> = [
  undefined,
  8_640_000_000_000_001,
  0,
  -1,
  1.5,
  Date.now() + 365 * 86_400_000,
  1e300,
  "",
  "-5",
  "1e400",
  "NaN",
  `9${"0".repeat(60)}`,
  "x".repeat(300),
  null,
  true,
  {},
  [1, [2, [3]]],
  "2999-01-01T00:00:00Z",
  "1970-01-01T00:00:00Z",
  JSON.parse(`${"[".repeat(100)}1${"]".repeat(100)}`),
]

/**
 * The hostile frames one venue gets: a valid frame of it with each field in turn replaced by each hostile value or
 * dropped (nested values 100 deep), truncated, byte-flipped, nested 3,000 deep (whole and truncated), garbage text. Only those the feed
 * refuses as a whole frame are kept, so that the count of refusals in /metrics must equal what was sent.
 */
const hostileFrames = (exchange: ExchangeId): ReadonlyArray<string> => {
  const venue = VENUES[exchange]
  const decode = withLimits(venue.decoder(new SymbolMap(symbolsOf(exchange), venue.instrument, venue.aliases)), 10_000)
  const sample = { symbol: symbolsOf(exchange)[0]!, id: 5, ts: Date.now() - 60_000, price: "101.5", qty: "0.25" }
  const frame = PROTOCOLS[exchange].encode({ kind: "trade", trade: { ...sample, takerBuy: true } })[0]!.frame
  const candidates = [
    ...pathsOf(JSON.parse(frame))
      .filter((p) => p.length > 0)
      .flatMap((p) => HOSTILE_VALUES.map((v) => replacedAt(frame, p, v))),
    ...Array.from({ length: 40 }, (_, i) => frame.slice(0, Math.floor((frame.length * i) / 40))),
    ...fc
      .sample(
        fc.array(fc.tuple(fc.nat(frame.length - 1), fc.integer({ min: 0, max: 0xffff })), {
          minLength: 1,
          maxLength: 3,
        }),
        { seed: 7, numRuns: 200 },
      )
      .map((flips) => flipped(frame, flips)),
    `${"[".repeat(3_000)}${frame}${"]".repeat(3_000)}`,
    "[".repeat(3_000),
    "\u0000\u0001garbage\uffff",
    "null",
    "[]",
  ]
  const now = Date.now()
  return [...new Set(candidates)].filter((f) => decode(f, now)._tag === "Invalid")
}

/** The venue's synthetic tape with hostile frames after each trade, on the trade's own topic. */
const hostileTape = (exchange: ExchangeId, spec: SyntheticSpec, hostile: ReadonlyArray<string>): Tape => ({
  *[Symbol.iterator]() {
    let n = 0
    for (const item of synthetic(spec)) {
      yield item as TapeItem
      if (item.event.kind !== "trade") continue
      const topic = PROTOCOLS[exchange].encode(item.event)[0]!.topic
      for (let k = 0; k < HOSTILE_PER_TRADE; k++)
        yield { at: item.at, topic, raw: hostile[n++ % hostile.length]! } satisfies TapeItem
    }
  },
})

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
  return m === null ? Number.NaN : Number(m[1]) / 1024
}

/** Sum of a counter over every label set carrying `labels`. */
const metricSum = async (httpPort: number, name: string, labels: string): Promise<Map<string, number>> => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const byReason = new Map<string, number>()
  for (const l of text.split("\n"))
    if (l.startsWith(`${name}{`) && l.includes(labels)) {
      const reason = /reason="([^"]*)"/.exec(l)?.[1] ?? ""
      byReason.set(reason, (byReason.get(reason) ?? 0) + Number(l.split(" ").at(-1)))
    }
  return byReason
}

describe("hostile frames through the daemon", () => {
  const db = scratchDatabase("ingest_hostile")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it(`${FRAMES.toLocaleString("en-US")} frames per venue on one connection each, valid trades among hostile frames: no crash, no reconnect, bounded memory, exact candles, every refusal counted`, async () => {
    const databaseUrl = await db.create()
    const server = await ReplayServer.start()
    const runs = EXCHANGES.map((exchange) => {
      const spec = specFor(exchange)
      const hostile = hostileFrames(exchange)
      expect(hostile.length, `${exchange} hostile frames`).toBeGreaterThan(100)
      server.play(exchange, hostileTape(exchange, spec, hostile), { hold: true })
      return { exchange, sent: sentOf(exchange, spec), hostileSent: TRADES * HOSTILE_PER_TRADE }
    })
    const httpPort = await freePort()
    const env: Record<string, string> = {
      FEEDS: EXCHANGES.join(","),
      DATABASE_URL: databaseUrl,
      HTTP_PORT: String(httpPort),
      CANDLE_GRACE_MS: String(GRACE_MS),
      STORE_FLUSH_MS: "100",
      // The venues' tapes end at different times, and a venue whose tape has ended is silent until the last one
      // does: on a loaded machine that exceeds the default minute, and the silent connection would be replaced.
      FEED_STALE_MS: "600000",
    }
    for (const e of EXCHANGES) {
      env[`${e.toUpperCase()}_SYMBOLS`] = symbolsOf(e).join(",")
      env[`${e.toUpperCase()}_WS_URL`] = server.url(e)
      env[`${e.toUpperCase()}_REST_URL`] = server.restUrl(e)
    }
    const daemon = startDaemon(env, process.cwd(), [`--max-old-space-size=${OLD_SPACE_MB}`])
    const rss: Array<number> = []
    const sampler = setInterval(() => {
      if (daemon.process.pid !== undefined && daemon.process.exitCode === null) rss.push(rssMb(daemon.process.pid))
    }, 500)
    try {
      await until("every hostile tape to be played", () => EXCHANGES.every((e) => server.venue(e).done), 600_000)
      clearInterval(sampler)
      for (const r of runs)
        await until(
          `${r.exchange}: every hostile frame counted`,
          async () => {
            const refused = await metricSum(httpPort, "feed_frames_rejected_total", `exchange="${r.exchange}"`)
            return [...refused.values()].reduce((a, b) => a + b, 0) >= r.hostileSent
          },
          120_000,
        )
      for (const r of runs) {
        const refused = await metricSum(httpPort, "feed_frames_rejected_total", `exchange="${r.exchange}"`)
        expect(
          [...refused.values()].reduce((a, b) => a + b, 0),
          `${r.exchange} refusals`,
        ).toBe(r.hostileSent)
        expect(refused.get("defect") ?? 0, `${r.exchange} defects`).toBe(0)
        expect(refused.get("malformed_json"), `${r.exchange} malformed_json`).toBeGreaterThan(0)
        expect(refused.get("too_deep") ?? refused.get("unknown_frame"), `${r.exchange} deep nesting`).toBeGreaterThan(0)
        expect(refused.get("out_of_range") ?? 0, `${r.exchange} out_of_range`).toBeGreaterThan(0)
        expect(
          server.venue(r.exchange).connections,
          `${r.exchange} connections; the daemon said: ${daemon
            .output()
            .split("\n")
            .filter((l) => l.includes(r.exchange) && /reconnect|closed|unavailable|stale|silent|ping/.test(l))
            .slice(0, 5)
            .join(" | ")}`,
        ).toBe(1)
      }
      const reconnects = await metricSum(httpPort, "feed_reconnects_total", "")
      expect([...reconnects.values()].reduce((a, b) => a + b, 0)).toBe(0)
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
      expect(daemon.output()).not.toContain("crashed")
      const quarter = Math.floor(rss.length / 4)
      const second = Math.max(...rss.slice(quarter, 2 * quarter))
      const last = Math.max(...rss.slice(3 * quarter))
      expect(Math.max(...rss), "peak RSS (MB)").toBeLessThan(RSS_LIMIT_MB)
      expect(last, `peak RSS (MB) of the last quarter against the second quarter's ${second}`).toBeLessThan(
        second * RSS_GROWTH,
      )
      const stored = await storedCandles(databaseUrl)
      for (const r of runs) expectCandlesMatch(stored, r.sent, GRACE_MS)
    } finally {
      clearInterval(sampler)
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 900_000)
})
