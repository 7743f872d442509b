/**
 * Indicator pipeline benchmark: the cost of one final candle through the seed's 14 indicators (IndicatorBook:
 * the decimals parsed, every calculator stepped, checkpoints kept for revisions, the rows built), and its share of
 * the daemon's work at 20 symbols × 6 timeframes, against the hot path's cost per trade measured in the same run
 * over the recorded Binance frames. Rounds interleave the two; the report is the median of the rounds.
 */
import { IndicatorBook } from "../src/domain/indicators/IndicatorBook.js"
import { DEFAULT_INDICATORS, IndicatorSet } from "../src/domain/indicators/IndicatorSet.js"
import { type Candle, DEFAULT_TIMEFRAMES, periodMs } from "../src/schema/Candle.js"
import { candleSeries } from "../test/support/candleSeries.js"
import { sampleCandle } from "../test/support/samples.js"
import { buildFrames, runPipeline } from "./frames.js"

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const CANDLES = 20_000
const SYMBOLS = 20
const TRADES_PER_SECOND = [20_000, 30_000]

const candles: ReadonlyArray<Candle> = candleSeries(CANDLES, 30_000, 7).map((c, i) => ({
  ...sampleCandle(i),
  open: String(c.close),
  high: String(c.high),
  low: String(c.low),
  close: String(c.close),
}))
const set = IndicatorSet.of(DEFAULT_INDICATORS)

/** Seconds per final candle, a 24-hour repair horizon kept as the daemon keeps it for 1m candles. */
const runIndicators = (): number => {
  const book = new IndicatorBook(set, 86_400_000)
  book.warm(candles[0]!, [])
  let rows = 0
  const start = process.hrtime.bigint()
  for (const c of candles) {
    const r = book.apply(c)
    if (r._tag === "Records") rows += r.records.length
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9
  // Every candle from the 12th on has values (ema_12 first).
  if (rows !== CANDLES - 11) throw new Error(`${rows} rows for ${CANDLES} candles`)
  return seconds / CANDLES
}

const { frames, recvTs, symbols } = buildFrames(20)
const unified = symbols.map((s) => `${s.slice(0, -4)}/${s.slice(-4)}`)

/** Seconds per trade through the hot path. */
const runHotPath = (): number => {
  const start = process.hrtime.bigint()
  const n = runPipeline(frames, recvTs, unified)
  return Number(process.hrtime.bigint() - start) / 1e9 / n
}

runIndicators()
runHotPath()
const perCandle: Array<number> = []
const perTrade: Array<number> = []
for (let r = 0; r < ROUNDS; r++) {
  perCandle.push(runIndicators())
  perTrade.push(runHotPath())
}
const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const candle = median(perCandle)
const trade = median(perTrade)
const finalsPerSecond = SYMBOLS * DEFAULT_TIMEFRAMES.reduce((sum, tf) => sum + 1_000 / periodMs(tf), 0)

console.log(`node ${process.version}, ${CANDLES} candles × ${set.names.length} indicators, ${ROUNDS} rounds (median)`)
console.log(`| measure | value |`)
console.log(`|---|---:|`)
console.log(`| one final candle through the ${set.names.length} indicators | ${(candle * 1e6).toFixed(2)} µs |`)
console.log(`| one trade through the hot path | ${(trade * 1e6).toFixed(2)} µs |`)
console.log(
  `| final candles per second, ${SYMBOLS} symbols × ${DEFAULT_TIMEFRAMES.join(", ")} | ${finalsPerSecond.toFixed(3)} |`,
)
for (const rate of TRADES_PER_SECOND)
  console.log(
    `| indicators' share of the hot path at ${rate.toLocaleString("en-US")} trades/s | ${((100 * finalsPerSecond * candle) / (rate * trade)).toFixed(5)} % |`,
  )
