import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BinanceProtocol } from "../../src/exchanges/binance/Replay.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { freePort, metric, startDaemon, until } from "../support/daemon.js"
import { coveredMinutes, klineRow } from "../support/klines.js"
import { scratchDatabase } from "../support/postgres.js"
import { unified } from "../support/session.js"

interface Reconciliation {
  checked: number
  mismatched: number
  lastCheckedMinute: string | null
  lastMismatch: { minute: string; fields: Array<string> } | null
}

const reconciliations = async (httpPort: number): Promise<Map<string, Reconciliation>> => {
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/status`).catch(() => undefined)
  if (res === undefined) return new Map()
  const body = (await res.json()) as {
    feeds: Array<{ symbols: Array<{ symbol: string; reconciliation: Reconciliation }> }>
  }
  return new Map(body.feeds.flatMap((f) => f.symbols).map((s) => [s.symbol, s.reconciliation]))
}

/**
 * The recorded minutes whose trades the exchange's kline covers in full, laid end to end (each recording moved by
 * whole minutes, its klines with it), every frame through `edit`: the tape, and the klines the exchange serves.
 */
const coveredSession = (edit: (raw: string) => string) => {
  const minutes = coveredMinutes()
  const starts = [...new Set(minutes.map((m) => m.kline.t))].sort((a, b) => a - b)
  const klines = new Map<string, Array<ReadonlyArray<string | number>>>()
  const frames: Array<{ ts: number; frame: string }> = []
  const first = new Map<string, number>()
  for (const m of minutes) {
    const delta = starts[0]! + starts.indexOf(m.kline.t) * 60_000 - m.kline.t
    klines.set(m.kline.s, [...(klines.get(m.kline.s) ?? []), klineRow(m.kline, delta)])
    first.set(unified(m.kline.s), m.kline.t + delta)
    for (const f of m.frames) {
      const frame = BinanceProtocol.shift(edit(f.raw), delta)
      frames.push({ ts: Number(/"T":(\d+)/.exec(frame)![1]), frame })
    }
  }
  frames.sort((a, b) => a.ts - b.ts)
  const tape = frames.map((f) => ({ at: f.ts, topic: BinanceProtocol.topicOf(f.frame)!, frame: f.frame }))
  return { tape, klines, minutes: first }
}

describe("reconciliation with the exchange's own 1m candles", () => {
  const db = scratchDatabase("ingest_reconcile")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  /** Plays the session to a daemon reconciling every 500 ms; resolves once every traded minute was compared. */
  const run = async (edit: (raw: string) => string) => {
    const url = await db.create()
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const { tape, klines, minutes } = coveredSession(edit)
    for (const [symbol, rows] of klines) server.venue("binance").ledger.klines.set(symbol, rows)
    const daemon = startDaemon(
      {
        FEEDS: "binance",
        BINANCE_SYMBOLS: [...minutes.keys()].join(","),
        BINANCE_TRADE_STREAM: "aggTrade",
        BINANCE_WS_URL: server.url("binance"),
        BINANCE_REST_URL: server.restUrl("binance"),
        DATABASE_URL: url,
        HTTP_PORT: String(httpPort),
        CANDLE_GRACE_MS: "2000",
        RECONCILE_INTERVAL_MS: "500",
      },
      process.cwd(),
    )
    try {
      server.play("binance", tape, { pace: { mode: "fast" } })
      await until(
        "every traded minute reconciled",
        async () => {
          const status = await reconciliations(httpPort)
          return [...minutes].every(([symbol, minute]) => {
            const r = status.get(symbol)?.lastCheckedMinute
            return r !== undefined && r !== null && Date.parse(r) >= minute
          })
        },
        60_000,
      )
      const status = await reconciliations(httpPort)
      const count = async (symbol: string, result: string) =>
        metric(httpPort, "candles_reconciled_total", `symbol="${symbol}",result="${result}"`)
      const results = new Map<string, { match: number; mismatch: number }>()
      for (const symbol of minutes.keys())
        results.set(symbol, { match: await count(symbol, "match"), mismatch: await count(symbol, "mismatch") })
      return { status, results, output: daemon.output() }
    } finally {
      daemon.process.kill("SIGTERM")
      await daemon.exit
      await server.close()
    }
  }

  it("reports zero drift on recorded klines for the minutes the recorded trades fully cover", async () => {
    const { status, results, output } = await run((raw) => raw)
    expect(results.size).toBe(5)
    for (const [symbol, r] of results) {
      expect(r, symbol).toMatchObject({ mismatch: 0 })
      expect(r.match, symbol).toBeGreaterThanOrEqual(1)
      expect(status.get(symbol), symbol).toMatchObject({ mismatched: 0, lastMismatch: null })
    }
    expect(output).not.toContain("differs from the exchange's")
  }, 90_000)

  it("a deliberately corrupted trade produces a logged mismatch with both candles, counted and shown", async () => {
    const { status, results, output } = await run((raw) =>
      raw.replace('"a":8613,"p":"18.99000000","q":"429.20000000"', '"a":8613,"p":"18.99000000","q":"429.30000000"'),
    )
    expect(results.get("ONT/TRY")).toEqual({ match: expect.any(Number), mismatch: 1 })
    expect(status.get("ONT/TRY")).toMatchObject({
      mismatched: 1,
      lastMismatch: { minute: "2021-04-17T16:36:00.000Z", fields: ["volume", "quoteVolume"] },
    })
    for (const symbol of ["QSP/BTC", "FTM/USDT", "SXP/BTC", "LRC/BTC"])
      expect(results.get(symbol)!.mismatch, symbol).toBe(0)
    const logged = output.split("\n").find((l) => l.includes("differs from the exchange's"))
    expect(logged).toBeDefined()
    const line = (JSON.parse(logged!) as { level: string; message: string }).message
    expect(JSON.parse(logged!)).toMatchObject({ level: "error" })
    expect(line).toContain("ONT/TRY 1m candle 2021-04-17T16:36:00.000Z")
    expect(line).toContain("volume (ours 899.25, exchange 899.15000000)")
    // Both candles in full: ours as stored, the exchange's as it answered.
    expect(line).toMatch(/ours: \{"exchange":"binance","symbol":"ONT\/TRY".*"volume":"899\.25"/)
    expect(line).toMatch(/exchange's: \{"openTime":1618677360000,"open":"19\.00000000".*"volume":"899\.15000000"/)
  }, 90_000)
})
