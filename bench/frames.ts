import { existsSync, readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { GapDetector } from "../src/domain/GapDetector.js"
import { SymbolMap } from "../src/domain/SymbolMap.js"
import { SymbolPipeline } from "../src/domain/SymbolPipeline.js"
import { Watermark } from "../src/domain/Watermark.js"
import { binanceInstrument, makeParser } from "../src/exchanges/binance/Venue.js"
import { withLimits } from "../src/exchanges/Venue.js"
import { type Candle, DEFAULT_TIMEFRAMES } from "../src/schema/Candle.js"

/** The daemon's default candle settings, for the benchmarks' symbol pipelines. */
export const PIPELINE_OPTIONS = {
  timeframes: DEFAULT_TIMEFRAMES,
  graceMs: 2_000,
  emptyCandles: "flat" as const,
  amendHorizonMs: 3_600_000,
  repairHorizonMs: 86_400_000,
  futureToleranceMs: 10_000,
}

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
 * The recorded Binance aggTrades in `../shared` beside the repository. Found from the repository's root rather than
 * from this file, which runs both from `bench/` and compiled from `.bench-build/bench/`.
 */
const recordedAggTrades = (): string => {
  let dir = dirname(fileURLToPath(import.meta.url))
  while (!existsSync(join(dir, "package.json"))) {
    if (dirname(dir) === dir) throw new Error("bench: no package.json above bench/frames; run it inside the repository")
    dir = dirname(dir)
  }
  return join(dir, "..", "shared", "fixtures", "binance", "aggTrade.jsonl")
}

/**
 * Real prices, sizes, sides and spacing from the recording, repeated with ids and times shifted per copy. The
 * recording's sessions lie months apart; those pauses shrink to one second so the stream reads as one session.
 */
export const buildFrames = (
  copies: number,
): { frames: Array<string>; recvTs: Array<number>; symbols: Array<string> } => {
  const recorded = readFileSync(recordedAggTrades(), "utf8")
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
  /** When each frame arrived: 20 ms after its trade, as a recording's receive times have it. */
  const recvTs: Array<number> = []
  for (let c = 0; c < copies; c++) {
    recorded.forEach((r, i) => {
      const t = r.a + c * 1_000_000
      const T = 1_700_000_000_000 + c * span + times[i]!
      recvTs.push(T + 20)
      const text = `{"stream":"${r.s.toLowerCase()}@trade","data":{"e":"trade","E":${T + 3},"s":"${r.s}","t":${t},"p":"${r.p}","q":"${r.q}","T":${T},"m":${r.m},"M":true}}`
      // Decoded from bytes, as the feed's socket hands frames over: one flat string. A template's result is a rope
      // of its pieces, which every character read must walk, and JSON.parse (which flattens it once) would not pay.
      frames.push(Buffer.from(text).toString())
    })
  }
  const symbols = [...new Set(recorded.map((r) => r.s))]
  return { frames, recvTs, symbols }
}

/**
 * The daemon's hot path over `frames`, as the feed and the aggregators run it: the venue's decoder held to the edge
 * limits → dedupe and gaps → validate, enrich, candles for six timeframes, advanced per mailbox batch. Returns the
 * trades taken.
 */
export const runPipeline = (
  frames: ReadonlyArray<string>,
  recvTs: ReadonlyArray<number>,
  unified: ReadonlyArray<string>,
): number => {
  const symbolMap = new SymbolMap(unified, binanceInstrument)
  // As the feed runs it: the venue's decoder held to the edge limits.
  const parse = withLimits(makeParser(symbolMap), PIPELINE_OPTIONS.futureToleranceMs)
  const gaps = new GapDetector()
  const watermark = new Watermark()
  const pipelines = new Map(unified.map((s) => [s, new SymbolPipeline("binance", s, PIPELINE_OPTIONS)]))
  const candles: Array<Candle> = []
  let n = 0
  let batch = 0
  for (let i = 0; i < frames.length; i++) {
    const now = recvTs[i]!
    const t = parse(frames[i]!, now)
    if (t._tag !== "Trade") continue
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
