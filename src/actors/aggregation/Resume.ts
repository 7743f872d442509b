import { Effect, Metric } from "effect"
import { isoOrNumber } from "../../domain/Limits.js"
import type { SymbolPipeline } from "../../domain/SymbolPipeline.js"
import { seqOf } from "../../exchanges/Venue.js"
import type { CandleStore } from "../../layers/CandleStore.js"
import * as Metrics from "../../layers/Metrics.js"
import type { ExchangeId } from "../../schema/Market.js"
import type { ResumePoint } from "./FeedPort.js"

/**
 * Restores a symbol's pipeline from where the last run stopped: its open candles of the longest timeframe. A
 * store that cannot be read starts the symbol afresh; a stored candle that cannot be read is logged, counted and
 * skipped. Undefined when there is nothing to resume from.
 */
export const resumeSymbol = (
  store: CandleStore,
  exchange: ExchangeId,
  symbol: string,
  pipeline: SymbolPipeline,
  longestPeriodMs: number,
) =>
  Effect.gen(function* () {
    const point = yield* store
      .resumePoint(exchange, symbol, longestPeriodMs)
      .pipe(
        Effect.catchAll((e) =>
          Effect.as(
            Effect.logWarning(
              `${exchange} ${symbol}: could not read where the last run stopped (${e.message}); starting afresh`,
            ),
            undefined,
          ),
        ),
      )
    const lastTradeId = point === undefined ? -1 : seqOf(point.lastTradeId)
    if (point === undefined || lastTradeId < 0) return undefined
    const unreadable = pipeline.aggregator.restore(point.minutes)
    if (unreadable.length > 0) {
      yield* Metric.incrementBy(
        Metric.tagged(Metric.tagged(Metrics.unreadableCandles, "exchange", exchange), "symbol", symbol),
        unreadable.length,
      )
      yield* Effect.logWarning(
        `${exchange} ${symbol}: ${unreadable.length} stored 1m candle(s) could not be read (a price, volume or trade count that is not one), first at ${isoOrNumber(unreadable[0]!)}; skipped, and the higher timeframes' candles they belong to are marked incomplete. Check those rows in ohlcv_candles.`,
      )
    }
    yield* Effect.logInfo(
      `${exchange} ${symbol}: resuming after trade ${point.lastTradeId} (final candles up to ${isoOrNumber(point.lastFinal)})`,
    )
    return { lastTradeId, fromTs: point.lastFinal + 60_000 } satisfies ResumePoint
  })
