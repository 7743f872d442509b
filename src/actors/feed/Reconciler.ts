import { Clock, Data, Duration, Effect, Metric } from "effect"
import { isoOrNumber } from "../../domain/Limits.js"
import { differences, type DueCandles, type Window, windows } from "../../domain/Reconciliation.js"
import type { CandleHistory } from "../../exchanges/Venue.js"
import * as Metrics from "../../layers/Metrics.js"
import { makeRestClient } from "../../layers/Rest.js"
import type { ExchangeId } from "../../schema/Market.js"
import type { FeedRest } from "./Backfill.js"

/** The exchange answered with candles we cannot read. */
export class CandlesUnreadable extends Data.TaggedError("CandlesUnreadable")<{
  readonly exchange: ExchangeId
  readonly symbol: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.exchange} ${this.symbol} candles unreadable: ${this.reason}`
  }
}

/**
 * How long after a minute's close (in exchange time) its candle is asked for: the exchange closes its own candle at
 * the minute's end, and its REST API may serve it a moment later.
 */
const SETTLE_MS = 3_000

export interface ReconcilerSpec extends FeedRest {
  readonly due: DueCandles
  readonly candles: CandleHistory
  readonly interval: Duration.Duration
}

const iso = isoOrNumber

/**
 * One feed's reconciler: every RECONCILE_INTERVAL_MS it asks the exchange for its own 1m candles of the minutes
 * we finalised complete since, and compares them field by field. A difference is a fault in our data or theirs,
 * so it is logged with both candles, counted per field, and shown in the status API. It shares the feed's REST
 * budget with the backfill, and an API that cannot be reached leaves the minutes for the next pass.
 */
export const makeReconciler = (spec: ReconcilerSpec) => {
  const { exchange, port, due, candles } = spec
  const rest = makeRestClient({ ...spec.rest, exchange })
  const tagged = <T, I, O>(m: Metric.Metric<T, I, O>, symbol: string) =>
    Metric.tagged(Metric.tagged(m, "exchange", exchange), "symbol", symbol)
  const count = (symbol: string, result: "match" | "mismatch" | "unchecked", n = 1) =>
    Metric.incrementBy(Metric.tagged(tagged(Metrics.reconciledCandles, symbol), "result", result), n)

  const check = (symbol: string, window: Window) =>
    Effect.gen(function* () {
      const request = candles.request(spec.instrument(symbol), window.fromTs, window.toTs)
      const body = yield* rest.get(request.path, request.query, request.weight)
      const read = candles.read(body)
      if (typeof read === "string") return yield* new CandlesUnreadable({ exchange, symbol, reason: read })
      const theirs = new Map(read.map((k) => [k.openTime, k]))
      for (const ours of window.candles) {
        const exchanges = theirs.get(ours.openTime)
        const diff = differences(ours, exchanges)
        port.stats.reconciled(
          symbol,
          ours.openTime,
          diff.map((d) => d.field),
        )
        if (diff.length === 0) {
          yield* count(symbol, "match")
          continue
        }
        yield* count(symbol, "mismatch")
        for (const d of diff)
          yield* Metric.increment(Metric.tagged(tagged(Metrics.candleDrift, symbol), "field", d.field))
        yield* Effect.logError(
          `${exchange} ${symbol} 1m candle ${iso(ours.openTime)} differs from the exchange's on ${diff.map((d) => `${d.field} (ours ${d.ours}, exchange ${d.theirs})`).join(", ")}; ours: ${JSON.stringify(ours)}; exchange's: ${JSON.stringify(exchanges ?? null)}`,
        )
      }
    })

  const pass = Effect.gen(function* () {
    if (!port.watermark.started) return
    const until = port.watermark.at(yield* Clock.currentTimeMillis) - SETTLE_MS
    for (const symbol of due.symbols()) {
      const pending = windows(due.take(symbol, until), candles.maxMinutes)
      for (const [i, window] of pending.entries()) {
        const outcome = yield* Effect.either(check(symbol, window))
        if (outcome._tag === "Right") continue
        const error = outcome.left
        if (error._tag === "RestUnavailable") {
          // The API is down: everything not yet compared waits for the next pass, and the rest of this one is off.
          for (const w of pending.slice(i)) due.restore(w.candles)
          return yield* Effect.logWarning(
            `${exchange}: candle reconciliation paused (${error.message}); trying again in ${Duration.format(spec.interval)}`,
          )
        }
        yield* count(symbol, "unchecked", window.candles.length)
        yield* Effect.logWarning(
          `${exchange} ${symbol}: 1m candles ${iso(window.fromTs)} to ${iso(window.toTs)} not reconciled: ${error.message}`,
        )
      }
    }
    for (const [symbol, n] of due.takeDropped()) {
      yield* count(symbol, "unchecked", n)
      yield* Effect.logWarning(
        `${exchange} ${symbol}: ${n} 1m candle(s) dropped unreconciled; the exchange's candles were unreachable for longer than ${due.capacity} minutes`,
      )
    }
  })

  return Effect.forever(Effect.zipRight(Effect.sleep(spec.interval), pass))
}
