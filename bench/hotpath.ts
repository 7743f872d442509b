/**
 * Hot-path benchmark: raw Binance `@trade` frames (strings) → decode → validate → enrich → candles for all six
 * default timeframes, against two baselines over the same frames in the same process:
 *   - bare JSON.parse of each frame (the ceiling), and
 *   - tardis-dev's Binance normaliser + computeTradeBars for the same six timeframes (the best TypeScript peer).
 * Rounds interleave the three so drift in machine load hits them alike; the report is the median of the rounds.
 */
import { readFileSync } from "node:fs"
import { computeTradeBars, normalizeTrades } from "tardis-dev"
import { binanceInstrument, makeParser } from "../src/domain/venues/Binance.js"
import { GapDetector } from "../src/domain/GapDetector.js"
import { SymbolMap } from "../src/domain/SymbolMap.js"
import { SymbolPipeline } from "../src/domain/SymbolPipeline.js"
import { Watermark } from "../src/domain/Watermark.js"
import type { Candle } from "../src/schema/Candle.js"
import { DEFAULT_TIMEFRAMES, periodMs } from "../src/schema/Candle.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const COPIES = Number(process.env.BENCH_COPIES ?? 200)
const FIXTURE = new URL("../../shared/fixtures/binance/aggTrade.jsonl", import.meta.url)

interface Agg {
  s: string
  a: number
  p: string
  q: string
  T: number
  E: number
  m: boolean
}

/**
 * Real prices, sizes, sides and spacing from the recording, repeated with ids and times shifted per copy. The
 * recording's sessions lie months apart; those pauses shrink to one second so the stream reads as one session.
 */
const buildFrames = (): { frames: Array<string>; symbols: Array<string> } => {
  const recorded = readFileSync(FIXTURE, "utf8")
    .trim()
    .split("\n")
    .map((l) => (JSON.parse(l) as { data: Agg }).data)
    .sort((x, y) => x.T - y.T)
  let shift = 0
  const times = recorded.map((r, i) => {
    const pause = i === 0 ? 0 : r.T - recorded[i - 1]!.T
    if (pause > 60_000) shift += pause - 1_000
    return r.T - shift - recorded[0]!.T
  })
  const span = times[times.length - 1]! + 1_000
  const frames: Array<string> = []
  for (let c = 0; c < COPIES; c++) {
    recorded.forEach((r, i) => {
      const t = r.a + c * 1_000_000
      const T = 1_700_000_000_000 + c * span + times[i]!
      frames.push(
        `{"stream":"${r.s.toLowerCase()}@trade","data":{"e":"trade","E":${T + 3},"s":"${r.s}","t":${t},"p":"${r.p}","q":"${r.q}","T":${T},"m":${r.m},"M":true}}`,
      )
    })
  }
  const symbols = [...new Set(recorded.map((r) => r.s))]
  return { frames, symbols }
}

const { frames, symbols: venueSymbols } = buildFrames()
// Unified names only need to round-trip through binanceInstrument here; the split point does not matter.
const unified = venueSymbols.map((s) => `${s.slice(0, -4)}/${s.slice(-4)}`)

const runJsonParse = (): number => {
  let n = 0
  for (const f of frames) if (JSON.parse(f) !== null) n++
  return n
}

const runOurs = (): number => {
  const symbolMap = new SymbolMap(unified, binanceInstrument)
  const parse = makeParser(symbolMap)
  const gaps = new GapDetector()
  const watermark = new Watermark()
  const options = {
    timeframes: DEFAULT_TIMEFRAMES,
    graceMs: 2_000,
    emptyCandles: "flat" as const,
    amendHorizonMs: 3_600_000,
    futureToleranceMs: 10_000,
  }
  const pipelines = new Map(unified.map((s) => [s, new SymbolPipeline("binance", s, options)]))
  const candles: Array<Candle> = []
  let n = 0
  let batch = 0
  let now = 0
  for (const raw of frames) {
    const t = parse(raw, now)
    if (t._tag !== "Trade") continue
    now = t.exchangeTs + 20
    if (gaps.observe(t.symbol, t.seq, t.seq, t.exchangeTs) === "duplicate") continue
    if (pipelines.get(t.symbol)!.onTrade(t, now) !== undefined) n++
    watermark.observe(t.exchangeTs, now)
    // The actors advance after each mailbox batch; 256 frames is a typical batch under load.
    if (++batch === 256) {
      batch = 0
      const w = watermark.at(now)
      for (const p of pipelines.values()) p.advance(w, candles)
      candles.length = 0
    }
  }
  return n
}

const runTardis = (): number => {
  const mapper = normalizeTrades("binance", new Date())
  const bars = new Map<string, Array<ReturnType<ReturnType<typeof computeTradeBars>>>>()
  const local = new Date()
  let n = 0
  for (const raw of frames) {
    for (const trade of mapper.map(JSON.parse(raw), local) ?? []) {
      let computables = bars.get(trade.symbol)
      if (computables === undefined) {
        computables = DEFAULT_TIMEFRAMES.map((tf) => computeTradeBars({ kind: "time", interval: periodMs(tf) })())
        bars.set(trade.symbol, computables)
      }
      for (const c of computables) for (const _bar of c.compute(trade)) n += 0
      n++
    }
  }
  return n
}

const contenders = [
  { name: "JSON.parse only (ceiling)", run: runJsonParse },
  { name: "tardis-dev normalizeTrades + computeTradeBars x6", run: runTardis },
  { name: "neuraltrade decode+validate+enrich+candles x6", run: runOurs },
] as const

const rates = new Map<string, Array<number>>(contenders.map((c) => [c.name, []]))
for (const c of contenders) c.run() // warm-up: JIT and lazy initialisation out of the measurement
for (let r = 0; r < ROUNDS; r++) {
  for (const c of contenders) {
    const start = process.hrtime.bigint()
    const n = c.run()
    const seconds = Number(process.hrtime.bigint() - start) / 1e9
    if (n !== frames.length) throw new Error(`${c.name} handled ${n} of ${frames.length} frames`)
    rates.get(c.name)!.push(n / seconds)
  }
}

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const ceiling = median(rates.get(contenders[0].name)!)
console.log(`node ${process.version}, ${frames.length} frames, ${ROUNDS} rounds, median trades/s`)
console.log("| pipeline | trades/s (median) | vs JSON.parse |")
console.log("|---|---:|---:|")
for (const c of contenders) {
  const m = median(rates.get(c.name)!)
  console.log(`| ${c.name} | ${Math.round(m).toLocaleString("en-US")} | ${(m / ceiling).toFixed(2)} |`)
}
