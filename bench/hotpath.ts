/**
 * Hot-path benchmark: raw Binance `@trade` frames (strings) → decode (held to the edge limits) → validate → enrich →
 * candles for all six default timeframes, against two baselines over the same frames in the same process:
 *   - bare JSON.parse of each frame (the ceiling), and
 *   - tardis-dev's Binance normaliser + computeTradeBars for the same six timeframes (the best TypeScript peer).
 * Rounds interleave the three so drift in machine load hits them alike; the report is the median of the rounds.
 */
import { computeTradeBars, normalizeTrades } from "tardis-dev"
import { buildFrames, runPipeline } from "./frames.js"
import { DEFAULT_TIMEFRAMES, periodMs } from "../src/schema/Candle.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const COPIES = Number(process.env.BENCH_COPIES ?? 200)

const { frames, recvTs, symbols: venueSymbols } = buildFrames(COPIES)
// Unified names only need to round-trip through binanceInstrument here; the split point does not matter.
const unified = venueSymbols.map((s) => `${s.slice(0, -4)}/${s.slice(-4)}`)

const runJsonParse = (): number => {
  let n = 0
  for (const f of frames) if (JSON.parse(f) !== null) n++
  return n
}

const runOurs = () => runPipeline(frames, recvTs, unified)

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
  { name: "neuraltrade decode+limits+validate+enrich+candles x6", run: runOurs },
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
