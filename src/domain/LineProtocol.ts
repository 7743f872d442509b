import { flat } from "./FlatString.js"
import { fnv1a32 } from "./Fnv.js"
import { symbolKey } from "./Topology.js"
import type { Candle } from "../schema/Candle.js"
import type { IndicatorRecord } from "../schema/Indicator.js"
import type { TickText } from "./Enrichment.js"
import type { Signal } from "../schema/Signal.js"

/**
 * InfluxDB line protocol for the seed's measurements (shared/DESIGN.md), all at nanosecond precision. A point is
 * identified by measurement + tags + time, so writing the same trade, candle or signal again overwrites it: retries
 * and revisions are upserts.
 */
export const TICKS = "market_ticks"
export const CANDLES = "market_ohlcv"
export const SIGNALS = "ml_signals"
export const INDICATORS = "market_indicators"

const tagValue = (s: string): string => (/[,= \\\n]/.test(s) ? s.replace(/[,= \\]/g, "\\$&").replace(/\n/g, "") : s)

const stringField = (s: string): string => `"${s.replace(/["\\]/g, "\\$&")}"`

/** A float field from its JSON text, or nothing for `null` (absent or not finite: line protocol has no NaN). */
const float = (name: string, v: string): string => (v === "null" ? "" : `,${name}=${v}`)

/**
 * The sub-millisecond part (0..999999 ns) that keeps trades of one symbol in one millisecond apart. Venues number
 * trades consecutively, so the id's last six digits differ between any two trades of a millisecond; ids that are
 * not numbers (Bybit's) fall back to a 32-bit FNV-1a hash, where two trades of one millisecond collide with odds
 * of about one in a million. Derived from the trade alone, so a rewrite of the same trade lands on the same point.
 */
export const subMillisecond = (tradeId: string): number => {
  if (/^\d+$/.test(tradeId)) return Number(tradeId.length > 6 ? tradeId.slice(-6) : tradeId)
  return fnv1a32(tradeId) % 1_000_000
}

const nanos = (ms: number, sub = 0): string => `${Math.trunc(ms)}${String(sub).padStart(6, "0")}`

export const tickLine = (t: TickText, tradeId: string): string =>
  flat(
    `${TICKS},exchange=${t.exchange},symbol=${tagValue(symbolKey(t.symbol))} last=${t.last}${float("bid", t.bid)}${float("ask", t.ask)}${float("mid", t.mid)}${float("spread", t.spread)}${float("spread_bps", t.spreadBps)}${float("volume", t.volume)} ${nanos(t.timestamp, subMillisecond(tradeId))}`,
  )

/**
 * Decimal strings are valid float literals as they are, so the stored value is the exact text's nearest double.
 * `revision`, `is_final` and `complete` let a reader tell a final candle from a shutdown snapshot or one with an
 * unfilled gap; the point is overwritten by each newer version.
 */
export const candleLine = (c: Candle): string =>
  flat(
    `${CANDLES},exchange=${c.exchange},symbol=${tagValue(symbolKey(c.symbol))},timeframe=${c.timeframe} open=${c.open},high=${c.high},low=${c.low},close=${c.close},volume=${c.volume},trades=${c.trades}i${c.vwap === null ? "" : `,vwap=${c.vwap}`},revision=${c.revision}i,is_final=${c.isFinal},complete=${c.complete} ${nanos(c.openTime)}`,
  )

export const signalLine = (s: Signal): string =>
  `${SIGNALS},exchange=${s.exchange},symbol=${tagValue(symbolKey(s.symbol))},signal=${s.signal},risk_level=${tagValue(s.risk_level)} confidence=${s.confidence},prob_buy=${s.prob_buy},prob_hold=${s.prob_hold},prob_sell=${s.prob_sell},risk_score=${s.risk_score},inference_time_ms=${s.inference_time_ms},model_version=${stringField(s.model_version)} ${nanos(s.timestamp)}`

/** One candle's indicators, one float field each (names are `[a-z_0-9]`, no escaping); time = the candle's open. */
export const indicatorLine = (r: IndicatorRecord): string => {
  let fields = ""
  for (const [name, value] of Object.entries(r.values)) fields += `${fields === "" ? "" : ","}${name}=${value}`
  return flat(
    `${INDICATORS},exchange=${r.exchange},symbol=${tagValue(symbolKey(r.symbol))},timeframe=${r.timeframe} ${fields} ${nanos(r.openTime)}`,
  )
}
