import { spawn } from "node:child_process"
import { DEFAULT_INDICATORS } from "../../src/domain/indicators/IndicatorSet.js"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTrades } from "../../src/replay/Synthetic.js"
import { type ArchiveTrade, corrupt, klineRows, writeArchiveDay } from "../support/archive.js"
import { expectCandlesMatch, type Sent } from "../support/candles.js"
import { until } from "../support/daemon.js"
import { expectIndicatorsMatch } from "../support/indicators.js"
import { query, scratchDatabase, storedCandles } from "../support/postgres.js"

const GRACE_MS = 2_000
const DAYS = ["2024-03-01", "2024-03-02", "2024-03-03"] as const
const SYMBOLS = ["BTC/USDT", "ETH/USDT"] as const
const DAY_MS = 86_400_000
const startOf = (day: string) => Date.parse(`${day}T00:00:00Z`)

/**
 * Three days of two symbols' aggregate trades, one every 20 s per symbol, but none from 23:50 on the first day to
 * 00:10 on the second (the second day starts with empty minutes, filled from the first day's close) nor for half
 * an hour on the third. Each aggregate stands for one to three raw trades.
 */
const tradesOf = (symbol: string, seed: number, perDay = 4_320): Array<ArchiveTrade> =>
  syntheticTrades({
    symbols: [symbol],
    rate: perDay / 86_400,
    count: perDay * DAYS.length,
    start: startOf(DAYS[0]),
    seed,
  })
    .filter((t) => {
      const quiet1 = t.ts >= startOf(DAYS[1]) - 10 * 60_000 && t.ts < startOf(DAYS[1]) + 10 * 60_000
      const quiet2 = t.ts >= startOf(DAYS[2]) + 3_600_000 && t.ts < startOf(DAYS[2]) + 5_400_000
      return !quiet1 && !quiet2
    })
    .map((t) => ({
      symbol,
      id: t.id,
      ts: t.ts,
      price: t.price,
      qty: t.qty,
      takerBuy: t.takerBuy,
      count: 1 + (t.id % 3),
    }))

const writeArchive = async (root: string, trades: ReadonlyMap<string, ReadonlyArray<ArchiveTrade>>) => {
  for (const [symbol, list] of trades)
    for (const [i, day] of DAYS.entries())
      await writeArchiveDay(
        root,
        symbol.replace("/", ""),
        // The last day is written as newer files are: a header row and microsecond times.
        { day, newer: i === DAYS.length - 1 },
        list.filter((t) => t.ts >= startOf(day) && t.ts < startOf(day) + DAY_MS),
      )
}

interface Run {
  readonly code: number | null
  readonly output: string
}

/** Downloads from the URL source go under DATA_DIR. */
const dataDir = mkdtempSync(join(tmpdir(), "ingest-history-data-"))

const history = (databaseUrl: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, [join(process.cwd(), "dist/history.js"), ...args], {
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: databaseUrl,
      CANDLE_GRACE_MS: String(GRACE_MS),
      LOG_LEVEL: "Info",
      DATA_DIR: dataDir,
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  child.stdout.on("data", (d: Buffer) => (output += d.toString()))
  child.stderr.on("data", (d: Buffer) => (output += d.toString()))
  const done = new Promise<Run>((resolve) => child.on("exit", (code) => resolve({ code, output })))
  return { child, output: () => output, done }
}

const rangeArgs = (root: string) => [
  "--exchange",
  "binance",
  "--symbols",
  SYMBOLS.join(","),
  "--from",
  DAYS[0],
  "--to",
  DAYS[DAYS.length - 1]!,
  "--source",
  "archive",
  root,
]

const checkpoints = (url: string) =>
  query<{ symbol: string; day: string; state: string; trades: string; mismatches: number }>(
    url,
    `SELECT symbol, to_char(day, 'YYYY-MM-DD') AS day, state, trades, mismatches FROM history_checkpoints ORDER BY symbol, day`,
  )

describe("the history command, on an archive in Binance's public-data layout", () => {
  const db = scratchDatabase("history")
  const dirs: Array<string> = []
  const fresh = () => {
    const dir = mkdtempSync(join(tmpdir(), "ingest-archive-"))
    dirs.push(dir)
    return dir
  }
  const trades = new Map<string, ReadonlyArray<ArchiveTrade>>(SYMBOLS.map((s, i) => [s, tradesOf(s, i + 3)]))
  const sent: Sent = { exchange: "binance", trades }
  beforeAll(() => db.start())
  afterAll(async () => {
    await db.stop()
    for (const d of [...dirs, dataDir]) rmSync(d, { recursive: true, force: true })
  })

  it("loads three days of two symbols: every 1m-1d candle equals an independent computation, every minute the archive's klines", async () => {
    const root = fresh()
    await writeArchive(root, trades)
    const url = await db.create()
    const run = await history(url, rangeArgs(root)).done
    expect(run.code, run.output).toBe(0)
    const stored = await storedCandles(url)
    expectCandlesMatch(stored, sent, GRACE_MS)
    // The same indicator pipeline as live candles: the seed's 14, every final candle past its warm-up.
    expect(await expectIndicatorsMatch(url, stored, DEFAULT_INDICATORS)).toBeGreaterThan(2 * 3 * 1_400 * 14)
    // The second day's first ten minutes had no trade: flat at the first day's close, as a live run fills them.
    const firstMinutes = await query<{ trades: number; close: string }>(
      url,
      `SELECT trades, close::text FROM ohlcv_candles WHERE symbol = 'BTC/USDT' AND timeframe = '1m'
       AND "timestamp" >= ${startOf(DAYS[1])} AND "timestamp" < ${startOf(DAYS[1]) + 600_000}`,
    )
    expect(firstMinutes).toHaveLength(10)
    expect(firstMinutes.every((m) => m.trades === 0)).toBe(true)
    const cps = await checkpoints(url)
    expect(cps.map((c) => [c.symbol, c.day, c.state, c.mismatches])).toEqual(
      SYMBOLS.flatMap((s) => DAYS.map((d) => [s, d, "done", 0])),
    )
    for (const c of cps)
      expect(Number(c.trades), `${c.symbol} ${c.day}`).toBe(
        trades.get(c.symbol)!.filter((t) => t.ts >= startOf(c.day) && t.ts < startOf(c.day) + DAY_MS).length,
      )
    // JSON progress lines when stdout is not a terminal.
    const ended = run.output
      .split("\n")
      .filter((l) => l.startsWith("{") && l.includes('"day_ended"'))
      .map((l) => JSON.parse(l) as { symbol: string; day: string; outcome: string })
    expect(ended).toHaveLength(SYMBOLS.length * DAYS.length)

    // A second run reads nothing again.
    const again = await history(url, rangeArgs(root)).done
    expect(again.code, again.output).toBe(0)
    expect(again.output.match(/skipped, loaded by an earlier run/g)).toHaveLength(SYMBOLS.length * DAYS.length)
  }, 120_000)

  it("from the replay exchange's URL, file by file with its .CHECKSUM: the same rows as from the directory", async () => {
    const root = fresh()
    await writeArchive(root, trades)
    const server = await ReplayServer.start()
    try {
      server.serveArchiveFrom(root)
      const [fromDir, fromUrl] = [await db.create(), await db.create()]
      const dirRun = await history(fromDir, rangeArgs(root)).done
      expect(dirRun.code, dirRun.output).toBe(0)
      const urlRun = await history(fromUrl, rangeArgs(server.archiveUrl())).done
      expect(urlRun.code, urlRun.output).toBe(0)
      expectCandlesMatch(await storedCandles(fromUrl), sent, GRACE_MS)
      expect(await storedCandles(fromUrl)).toEqual(await storedCandles(fromDir))
      // A day the server does not have fails naming the URL; the rest load.
      const partial = await db.create()
      rmSync(join(root, "spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2024-03-02.zip"))
      const missing = await history(partial, rangeArgs(server.archiveUrl())).done
      expect(missing.code).toBe(1)
      expect(missing.output).toContain(
        `${server.archiveUrl()}/spot/daily/klines/ETHUSDT/1m/ETHUSDT-1m-2024-03-02.zip: not served (HTTP 404)`,
      )
      expect((await checkpoints(partial)).filter((c) => c.state === "failed").map((c) => [c.symbol, c.day])).toEqual([
        ["ETH/USDT", "2024-03-02"],
      ])
    } finally {
      await server.close()
    }
  }, 120_000)

  it("--source rest: days from the exchange's REST history, found by time and paged by id, checked against its klines", async () => {
    const server = await ReplayServer.start()
    try {
      const venue = server.venue("binance")
      for (const [symbol, list] of trades) {
        const instrument = symbol.replace("/", "")
        venue.ledger.records.set(
          `aggTrades:${instrument}`,
          list.map((t) => ({
            a: t.id,
            p: t.price,
            q: t.qty,
            f: t.id * 10,
            l: t.id * 10 + t.count - 1,
            T: t.ts,
            m: !t.takerBuy,
            M: true,
          })),
        )
        // The REST API writes times and counts as JSON numbers, prices as text.
        venue.ledger.klines.set(
          instrument,
          klineRows(list).map((k) => k.map((v, i) => (i === 0 || i === 6 || i === 8 ? Number(v) : v))),
        )
      }
      const url = await db.create()
      const run = await history(
        url,
        ["--symbols", SYMBOLS.join(","), "--from", DAYS[0], "--to", DAYS[DAYS.length - 1]!, "--source", "rest"],
        { FEEDS: "binance", BINANCE_REST_URL: server.restUrl("binance"), BINANCE_TRADE_STREAM: "aggTrade" },
      ).done
      expect(run.code, run.output).toBe(0)
      expectCandlesMatch(await storedCandles(url), sent, GRACE_MS)
      const cps = await query<{ source: string; state: string; mismatches: number }>(
        url,
        "SELECT source, state, mismatches FROM history_checkpoints",
      )
      expect(cps).toHaveLength(SYMBOLS.length * DAYS.length)
      expect(cps.every((c) => c.source === "rest" && c.state === "done" && c.mismatches === 0)).toBe(true)
      // Within the exchange's rate limit: the replay answers 429 past it, and none was needed.
      expect(venue.restLog.every((r) => r.status === 200)).toBe(true)
    } finally {
      await server.close()
    }
  }, 120_000)

  it("a corrupt ZIP and a wrong .CHECKSUM each fail their day with an error naming the file; the other days load", async () => {
    const root = fresh()
    await writeArchive(root, trades)
    const broken = join(root, "spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-03-02.zip")
    corrupt(broken)
    // A ZIP that matches its .CHECKSUM but is not a readable ZIP: the hash is made to agree.
    const unreadable = join(root, "spot/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2024-03-03.zip")
    const { createHash } = await import("node:crypto")
    const garbage = Buffer.from("this is not a zip file")
    writeFileSync(unreadable, garbage)
    writeFileSync(`${unreadable}.CHECKSUM`, `${createHash("sha256").update(garbage).digest("hex")}  x.zip\n`)
    const url = await db.create()
    const run = await history(url, rangeArgs(root)).done
    expect(run.code).toBe(1)
    expect(run.output).toContain(`${broken}: SHA-256`)
    expect(run.output).toContain(`${unreadable}: not a readable ZIP`)
    const cps = await checkpoints(url)
    expect(cps.filter((c) => c.state !== "done").map((c) => [c.symbol, c.day, c.state])).toEqual([
      ["BTC/USDT", "2024-03-02", "failed"],
      ["ETH/USDT", "2024-03-03", "failed"],
    ])
    expect(cps.filter((c) => c.state === "done")).toHaveLength(4)
  }, 120_000)

  it("kill -9 in the middle of a day, then a rerun: the same rows as one clean run, finished days not reread", async () => {
    // The second day of BTC is large, so the kill lands while it loads.
    const big = new Map(trades)
    big.set("BTC/USDT", tradesOf("BTC/USDT", 3, 120_000))
    const root = fresh()
    await writeArchive(root, big)
    const clean = await db.create()
    const killed = await db.create()
    const cleanRun = await history(clean, rangeArgs(root)).done
    expect(cleanRun.code, cleanRun.output).toBe(0)

    const first = history(killed, rangeArgs(root))
    await until(
      "the second day loading",
      async () =>
        // The table appears once the command has migrated the database.
        (await checkpoints(killed).catch(() => [])).some(
          (c) => c.day === DAYS[1] && c.symbol === "BTC/USDT" && c.state === "running",
        ),
      60_000,
    )
    first.child.kill("SIGKILL")
    await first.done
    expect((await checkpoints(killed)).map((c) => [c.symbol, c.day, c.state])).toEqual([
      ["BTC/USDT", DAYS[0], "done"],
      ["BTC/USDT", DAYS[1], "running"],
    ])
    const rerun = await history(killed, rangeArgs(root)).done
    expect(rerun.code, rerun.output).toBe(0)
    expect(rerun.output).toContain(`history: binance BTC/USDT ${DAYS[0]} skipped, loaded by an earlier run`)
    expect(rerun.output).not.toContain(`binance BTC/USDT ${DAYS[1]} skipped`)
    const rows = async (url: string) =>
      query(
        url,
        `SELECT symbol, timeframe, "timestamp", open::text, high::text, low::text, close::text, volume::text,
           quote_volume::text, trades, taker_buy_base::text, taker_buy_quote::text, is_final, revision, complete
         FROM ohlcv_candles ORDER BY symbol, timeframe, "timestamp"`,
      )
    const [a, b] = [await rows(clean), await rows(killed)]
    expect(b.length).toBe(a.length)
    expect(b).toEqual(a)
  }, 180_000)

  it("a day whose klines differ from its trades is loaded but reported, naming the minute and the field; exit 1", async () => {
    const root = fresh()
    await writeArchive(root, trades)
    const day = DAYS[1]
    // The exchange's kline of 12:00 on the second day shows one trade more than its trades.
    await writeArchiveDay(
      root,
      "ETHUSDT",
      { day, newer: false },
      trades.get("ETH/USDT")!.filter((t) => t.ts >= startOf(day) && t.ts < startOf(day) + DAY_MS),
      (klines) => {
        const noon = klines.find((k) => Number(k[0]) === startOf(day) + 12 * 3_600_000)!
        noon[8] = Number(noon[8]) + 1
      },
    )
    const url = await db.create()
    const run = await history(url, rangeArgs(root)).done
    expect(run.code).toBe(1)
    expect(run.output).toContain(
      `history: binance ETH/USDT ${day} loaded, ${trades.get("ETH/USDT")!.filter((t) => t.ts >= startOf(day) && t.ts < startOf(day) + DAY_MS).length} trade(s), but 1 1m candle(s) differ from the exchange's klines: 12:00 (trades)`,
    )
    expect(
      (await checkpoints(url)).filter((c) => c.mismatches > 0).map((c) => [c.symbol, c.day, c.state, c.mismatches]),
    ).toEqual([["ETH/USDT", day, "done", 1]])
  }, 120_000)

  it("Ctrl-C stops at the day it is loading: exit 130, that day left to the next run", async () => {
    const big = new Map(trades)
    big.set("BTC/USDT", tradesOf("BTC/USDT", 3, 120_000))
    const root = fresh()
    await writeArchive(root, big)
    const url = await db.create()
    const run = history(url, rangeArgs(root))
    await until(
      "the first day loading",
      async () => (await checkpoints(url).catch(() => [])).some((c) => c.state === "running"),
      60_000,
    )
    run.child.kill("SIGINT")
    const { code, output } = await run.done
    expect(code, output).toBe(130)
    expect(output).toContain("history: stopped; the days done are checkpointed, a rerun resumes")
    expect((await checkpoints(url)).filter((c) => c.state === "done")).toHaveLength(0)
  }, 120_000)

  it("refuses a command line it cannot use, naming what is wrong", async () => {
    const url = await db.create()
    const run = await history(url, ["--symbols", "BTCUSDT", "--from", "2024-03-01", "--to", "2024-03-01"]).done
    expect(run.code).toBe(2)
    expect(run.output).toContain("--symbols: BTCUSDT is not BASE/QUOTE")
    const help = await history(url, ["--help"]).done
    expect(help.code).toBe(0)
    expect(help.output).toContain("--source archive DIR")
  })
})

describe("the history command, on a legacy OHLCV CSV (--source csv)", () => {
  const db = scratchDatabase("history_csv")
  const dir = mkdtempSync(join(tmpdir(), "ingest-csv-"))
  beforeAll(() => db.start())
  afterAll(async () => {
    await db.stop()
    rmSync(dir, { recursive: true, force: true })
  })
  const HOUR = 3_600_000
  const day1 = startOf("2024-03-01")
  /** Hourly candles of two symbols from a day before the range to its end; BTC's time in ms, ETH's in ISO 8601. */
  const rows: Array<{ pair: string; time: string; open: string; high: string; low: string; close: string }> = []
  for (let t = day1 - DAY_MS; t < day1 + 2 * DAY_MS; t += HOUR)
    for (const [pair, base] of [
      ["BTCUSDT", 60_000],
      ["ETH-USDT", 3_000],
    ] as const) {
      const p = base + ((t / HOUR) % 24) * 10
      rows.push({
        pair,
        time: pair === "BTCUSDT" ? String(t) : new Date(t).toISOString().replace("T", " ").replace(".000Z", ""),
        open: `${p}.5`,
        high: `${p + 20}`,
        low: `${p - 20}.25`,
        close: `${p + 5}`,
      })
    }
  const csv = (lines: typeof rows) =>
    [
      "open_time,o,h,l,c,v,qv,n,pair",
      ...lines.map(
        (r) => `${r.time},${r.open},${r.high},${r.low},${r.close},12.5,${Number(r.close) * 12.5},40,${r.pair}`,
      ),
    ].join("\n")
  const revisions = async (url: string) =>
    (await query<{ revision: number }>(url, "SELECT DISTINCT revision FROM ohlcv_candles ORDER BY revision")).map(
      (r) => r.revision,
    )
  const args = (file: string, more: ReadonlyArray<string> = []) => [
    "--exchange",
    "binance",
    "--symbols",
    "BTC/USDT,ETH/USDT",
    "--from",
    "2024-03-01",
    "--to",
    "2024-03-02",
    "--source",
    "csv",
    file,
    "--timeframe",
    "1h",
    "--columns",
    "time=open_time,open=o,high=h,low=l,close=c,volume=v,quote_volume=qv,trades=n,symbol=pair",
    ...more,
  ]

  it("imports each row as a final 1h candle marked imported; a bad row fails its day naming the line; a candle built from trades is kept; a rerun skips the days done", async () => {
    const url = await db.create()
    const file = join(dir, "legacy.csv")
    // ETH's 05:00 on the second day has its high below its low.
    const badAt = rows.findIndex((r) => r.pair === "ETH-USDT" && r.time === "2024-03-02 05:00:00")
    const lines = rows.map((r, i) => (i === badAt ? { ...r, high: "1" } : r))
    writeFileSync(file, csv(lines))
    const first = await history(url, args(file)).done
    expect(first.code, first.output).toBe(1)
    expect(first.output).toContain(`line ${badAt + 2}: high 1 is below another price`)
    expect(first.output).toMatch(/binance ETH\/USDT 2024-03-02: 1 row\(s\) of .* are not candles, 23 stored/)
    const stored = await storedCandles(url)
    expect(stored.filter((c) => c.symbol === "BTC/USDT").length).toBe(48)
    expect(stored.filter((c) => c.symbol === "ETH/USDT").length).toBe(47)
    for (const c of stored) {
      expect(c.timeframe).toBe("1h")
      expect([c.is_final, c.complete]).toEqual([true, false])
      expect(c.timestamp).toBeGreaterThanOrEqual(day1)
    }
    expect(await revisions(url)).toEqual([-1])
    const at = (symbol: string, ts: number) => stored.find((c) => c.symbol === symbol && c.timestamp === ts)!
    expect(at("BTC/USDT", day1 + 3 * HOUR)).toMatchObject({
      open: "60030.5",
      high: "60050",
      low: "60010.25",
      close: "60035",
      trades: 40,
    })
    expect(at("ETH/USDT", day1 + DAY_MS + 4 * HOUR)).toMatchObject({
      open: "3040.5",
      volume: "12.5",
      quote_volume: "38062.5",
    })
    expect((await checkpoints(url)).map((c) => `${c.symbol} ${c.day} ${c.state} ${c.trades}`)).toEqual([
      "BTC/USDT 2024-03-01 done 24",
      "BTC/USDT 2024-03-02 done 24",
      "ETH/USDT 2024-03-01 done 24",
      "ETH/USDT 2024-03-02 failed 23",
    ])

    // A candle built from trades replaces an imported one; a rerun of the import leaves it, and loads only the
    // failed day again (its row now fixed).
    await query(
      url,
      `UPDATE ohlcv_candles SET revision = 0, complete = true, close = 1 WHERE symbol = 'BTC/USDT' AND "timestamp" = ${day1}`,
    )
    writeFileSync(file, csv(rows))
    await query(
      url,
      `UPDATE history_checkpoints SET state = 'running' WHERE symbol = 'BTC/USDT' AND day = '2024-03-01'`,
    )
    const second = await history(url, args(file)).done
    expect(second.code, second.output).toBe(0)
    expect(second.output).toContain("2 day(s) loaded, 2 skipped as done before")
    const again = await storedCandles(url)
    expect(again.length).toBe(96)
    expect(again.find((c) => c.symbol === "BTC/USDT" && c.timestamp === day1)).toMatchObject({
      complete: true,
      close: "1",
    })
    expect(await revisions(url)).toEqual([-1, 0])
    expect((await checkpoints(url)).every((c) => c.state === "done")).toBe(true)
  })

  it("names a column the header lacks, and refuses --columns it cannot read", async () => {
    const url = await db.create()
    const file = join(dir, "plain.csv")
    writeFileSync(file, "timestamp,open,high,low,close,volume\n1709251200000,1,2,0.5,1.5,3\n")
    const missing = await history(url, args(file, ["--symbols", "BTC/USDT", "--columns", "volume=volume"])).done
    expect(missing.code).toBe(1)
    expect(missing.output).toContain(
      "no column time in its header (timestamp, open, high, low, close, volume); map them with --columns",
    )
    const bad = await history(url, args(file, ["--columns", "when=timestamp"])).done
    expect(bad.code).toBe(2)
    expect(bad.output).toContain("--columns when=timestamp: expected <field>=<header>")
  })
})
