import { Effect } from "effect"
import { currentTraceparent } from "../../layers/Tracing.js"
import type { Candle } from "../../schema/Candle.js"
import type { MarketSink } from "../sinks/registry.js"
import type { AggregatorOutputs, TradeTick } from "./Aggregator.js"

type Writer<A> = (xs: ReadonlyArray<A>, traceparent: string | undefined) => Effect.Effect<void>

/** Hands a batch to every sink in turn, with the `traceparent` of the span it was produced under. */
export const fanOut =
  <A>(sinks: ReadonlyArray<Writer<A>>) =>
  (xs: ReadonlyArray<A>) =>
    Effect.flatMap(currentTraceparent, (tp) => Effect.forEach(sinks, (sink) => sink(xs, tp), { discard: true }))

/**
 * Where every aggregator's candles and ticks go: each configured sink in turn, then `alsoCandles` (in-process
 * consumers such as the reconciler's due list, which are never full). A sink whose memory and disk buffers are
 * both full suspends the aggregator, and so the feed.
 */
export const aggregatorOutputs = (
  sinks: ReadonlyArray<MarketSink>,
  alsoCandles: (cs: ReadonlyArray<Candle>) => void,
): AggregatorOutputs => {
  const candleSinks: Array<Writer<Candle>> = sinks.flatMap((s) => (s.candles === undefined ? [] : [s.candles]))
  const tickSinks: Array<Writer<TradeTick>> = sinks.flatMap((s) => (s.ticks === undefined ? [] : [s.ticks]))
  candleSinks.push((cs) => Effect.sync(() => alsoCandles(cs)))
  return {
    candles: fanOut(candleSinks),
    ...(tickSinks.length > 0 ? { ticks: fanOut(tickSinks) } : {}),
  }
}
