/**
 * History import benchmark: `node dist/history.js` pinned to one core (taskset -c 0) loading one day of one symbol
 * from a local archive into a fresh PostgreSQL database, against the ceiling of reading the same ZIP: inflating and
 * parsing its CSV with nothing done per row, on the same core, in the same run. Median of interleaved rounds.
 */
import { spawnSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Stream } from "effect"
import { csvRows } from "../src/actors/history/ArchiveFiles.js"
import { syntheticTrades } from "../src/replay/Synthetic.js"
import { writeArchiveDay } from "../test/support/archive.js"
import { scratchDatabase } from "../test/support/postgres.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3)
const N = Number(process.env.BENCH_TRADES ?? 1_000_000)
const DAY = "2024-03-01"
const start = Date.parse(`${DAY}T00:00:00Z`)

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const main = async () => {
  const root = mkdtempSync(join(tmpdir(), "bench-history-"))
  const db = scratchDatabase("bench_history")
  await db.start()
  try {
    const trades = syntheticTrades({ symbols: ["BTC/USDT"], rate: N / 86_400, count: N, start, seed: 11 }).map((t) => ({
      ...t,
      count: 1,
    }))
    await writeArchiveDay(root, "BTCUSDT", { day: DAY, newer: false }, trades)
    const zip = join(root, `spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-${DAY}.zip`)
    const ceiling: Array<number> = []
    const command: Array<number> = []
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now()
      let rows = 0
      await Effect.runPromise(Stream.runForEach(csvRows(zip), (b) => Effect.sync(() => (rows += b.length))))
      ceiling.push((rows * 1_000) / (performance.now() - t0))

      const url = await db.create()
      const t1 = performance.now()
      const run = spawnSync(
        "taskset",
        [
          "-c",
          "0",
          process.execPath,
          "dist/history.js",
          "--symbols",
          "BTC/USDT",
          "--from",
          DAY,
          "--to",
          DAY,
          "--source",
          "archive",
          root,
        ],
        { env: { PATH: process.env.PATH ?? "", DATABASE_URL: url, LOG_LEVEL: "Warning" }, encoding: "utf8" },
      )
      const seconds = (performance.now() - t1) / 1_000
      if (run.status !== 0) throw new Error(`history exited ${run.status}: ${run.stdout}${run.stderr}`)
      command.push(N / seconds)
    }
    const c = median(ceiling)
    const h = median(command)
    console.log(`node ${process.version}, ${N.toLocaleString("en")} aggTrades of one day, ${ROUNDS} rounds, median`)
    console.log("| pipeline | trades/s (median) | vs ceiling |")
    console.log("|---|---:|---:|")
    console.log(`| unzip + CSV parse only (ceiling) | ${Math.round(c).toLocaleString("en")} | 1.00 |`)
    console.log(
      `| node dist/history.js, whole command (start-up, checksum, candles, PostgreSQL, klines check) | ${Math.round(h).toLocaleString("en")} | ${(h / c).toFixed(2)} |`,
    )
  } finally {
    await db.stop()
    rmSync(root, { recursive: true, force: true })
  }
}

await main()
