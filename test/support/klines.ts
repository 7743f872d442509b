import { fixtureLines, fixtureMeta } from "./fixtures.js"

/** A `<symbol>@kline_1m` payload as recorded. */
export interface StreamKline {
  readonly s: string
  readonly t: number
  readonly T: number
  readonly f: number
  readonly L: number
  readonly o: string
  readonly h: string
  readonly l: string
  readonly c: string
  readonly v: string
  readonly q: string
  readonly n: number
  readonly V: string
  readonly Q: string
  readonly x: boolean
}

/** A minute the exchange's kline and the recorded aggTrades both cover in full. */
export interface CoveredMinute {
  readonly kline: StreamKline
  /** The recorded aggTrade frames of the kline's raw trades `f..L`, in order, with their receive times. */
  readonly frames: ReadonlyArray<{ readonly raw: string; readonly recvTs: number }>
}

/**
 * Per symbol and minute, the newest recorded kline whose every raw trade (`f..L`) was recorded as an aggTrade:
 * what the exchange showed for that minute while those were all its trades.
 */
export const coveredMinutes = (): Array<CoveredMinute> => {
  const meta = fixtureMeta("binance/aggTrade.jsonl")
  const agg = fixtureLines("binance/aggTrade.jsonl").map((raw, i) => ({
    raw,
    recvTs: meta[i]!.recvTs,
    data: (JSON.parse(raw) as { data: { s: string; f: number; l: number } }).data,
  }))
  const newest = new Map<string, StreamKline>()
  for (const line of fixtureLines("binance/kline_1m.jsonl")) {
    const k = (JSON.parse(line) as { data: { k: StreamKline } }).data.k
    const key = `${k.s}:${k.t}`
    if ((newest.get(key)?.L ?? -1) <= k.L) newest.set(key, k)
  }
  const out: Array<CoveredMinute> = []
  for (const kline of newest.values()) {
    const frames = agg.filter((a) => a.data.s === kline.s && a.data.f >= kline.f && a.data.l <= kline.L)
    const covered = frames.reduce((n, a) => n + a.data.l - a.data.f + 1, 0)
    if (covered === kline.L - kline.f + 1)
      out.push({ kline, frames: frames.map(({ raw, recvTs }) => ({ raw, recvTs })) })
  }
  return out
}

/** The kline as a row of REST `/api/v3/klines`, its times moved by `delta`. */
export const klineRow = (k: StreamKline, delta = 0): ReadonlyArray<string | number> => [
  k.t + delta,
  k.o,
  k.h,
  k.l,
  k.c,
  k.v,
  k.T + delta,
  k.q,
  k.n,
  k.V,
  k.Q,
  "0",
]
