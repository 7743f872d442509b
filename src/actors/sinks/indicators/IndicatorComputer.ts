import type * as SqlError from "@effect/sql/SqlError"
import { Data, Effect } from "effect"
import { IndicatorBook } from "../../../domain/indicators/IndicatorBook.js"
import { IndicatorSet } from "../../../domain/indicators/IndicatorSet.js"
import { AppConfig } from "../../../layers/AppConfig.js"
import { CandleStore } from "../../../layers/CandleStore.js"
import type { Candle } from "../../../schema/Candle.js"
import type { IndicatorRecord } from "../../../schema/Indicator.js"

/** The stored candles to warm a series with could not be read; `remaining` are the candles not yet computed. */
export class WarmUpFailed extends Data.TaggedError("WarmUpFailed")<{
  readonly series: string
  readonly remaining: ReadonlyArray<Candle>
  readonly cause: SqlError.SqlError
}> {}

/**
 * The indicator pipeline of INDICATORS, shared by the daemon's indicators sink and the history command: final
 * candles in order, each series warmed on its first candle from the stored final candles before it.
 */
export const makeIndicatorComputer = Effect.gen(function* () {
  const config = yield* AppConfig
  const store = yield* CandleStore
  const set = IndicatorSet.of(config.indicators)
  const book = new IndicatorBook(set, Math.max(config.candleRepairHorizonMs, config.candleAmendHorizonMs))

  const warm = (candle: Candle, remaining: ReadonlyArray<Candle>) => {
    const needed = book.warmUpNeeded(candle)
    if (needed === 0) return Effect.void
    return store
      .query({
        exchange: candle.exchange,
        symbol: candle.symbol,
        timeframe: candle.timeframe,
        to: candle.openTime - 1,
        limit: needed,
      })
      .pipe(
        Effect.map((stored) => book.warm(candle, stored)),
        Effect.mapError(
          (cause) =>
            new WarmUpFailed({ series: `${candle.exchange} ${candle.symbol} ${candle.timeframe}`, remaining, cause }),
        ),
      )
  }

  /** Hands each final candle's new and changed rows to `emit`, candle by candle; open candles are skipped. */
  const compute = (
    candles: ReadonlyArray<Candle>,
    emit: (records: ReadonlyArray<IndicatorRecord>) => Effect.Effect<void>,
  ): Effect.Effect<void, WarmUpFailed> =>
    Effect.gen(function* () {
      for (let i = 0; i < candles.length; i++) {
        const candle = candles[i]!
        if (!candle.isFinal) continue
        yield* warm(candle, candles.slice(i))
        const result = book.apply(candle)
        if (result._tag === "TooOld")
          yield* Effect.logWarning(
            `indicators: ${candle.exchange} ${candle.symbol} ${candle.timeframe} revision of ${new Date(candle.openTime).toISOString()} is older than the candles kept for revisions (from ${new Date(result.oldestKept).toISOString()}); its indicators stay as they were`,
          )
        else if (result.records.length > 0) yield* emit(result.records)
      }
    })

  return { set, compute } as const
})
