import { Clock, Effect, Either } from "effect"
import type { StoredValues } from "../../domain/CandleBuilder.js"
import { EXCHANGES } from "../../exchanges/registry.js"
import { AppConfig, type FeedConfig, pipelineOptions } from "../../layers/AppConfig.js"
import { CandleStore } from "../../layers/CandleStore.js"
import { bucketStart, longestPeriodMs, MINUTE } from "../../schema/Candle.js"
import { importDay } from "./ImportDay.js"
import type { DaySource } from "./DaySource.js"
import { restDaysOf } from "./RestDays.js"

const DAY = 86_400_000

const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z")

/** What a symbol needs from history before it goes live, if anything. */
type Load =
  | { readonly why: "first"; readonly from: number; readonly until: number }
  | {
      readonly why: "downtime"
      readonly from: number
      readonly until: number
      readonly minutes: ReadonlyArray<StoredValues>
    }

/**
 * History loaded before the aggregators start, through the same candle path as live trades, from the exchange's
 * REST history (found by time, within its weight budget) up to a couple of grace periods ago:
 * - `HISTORY_DAYS=N`: a symbol with nothing stored loads N whole UTC days before today, and today so far;
 * - a restart after a downtime longer than the repair horizon (`CANDLE_REPAIR_HORIZON_MS`), whose trades the live
 *   backfill could no longer fit into candles, loads from the minute after the last stored one, continuing the open
 *   candles from the stored minutes.
 * Either stores final candles and the last trade id of the newest, so the aggregator then resumes as after a restart
 * (its open candles rebuilt from the stored minutes) and the backfill fetches by id from that trade on to the live
 * stream: history and live meet at one trade id, and no trade is counted twice. A symbol whose history cannot be
 * read starts live as before, with a warning.
 */
export class StartupHistory extends Effect.Service<StartupHistory>()("ingestd/StartupHistory", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* CandleStore
    const now = yield* Clock.currentTimeMillis
    const { repairHorizonMs } = pipelineOptions(config)
    // Minutes this old are settled: the live path takes over from the last trade of the newest one.
    const until = bucketStart(now - 2 * config.candleGraceMs, MINUTE)

    const loadOf = (feed: FeedConfig, symbol: string) =>
      Effect.gen(function* () {
        const point = yield* store.resumePoint(feed.exchange, symbol, longestPeriodMs(config.timeframes))
        if (point !== undefined) {
          // The downtime by the clock, from when the last candle was stored: the exchange's time moved on as much
          // since (a replayed tape's time may be years behind the clock, and is then not mistaken for a downtime).
          const down = now - point.storedAt
          if (down <= repairHorizonMs) return undefined
          const present = bucketStart(point.lastFinal + MINUTE + down - 2 * config.candleGraceMs, MINUTE)
          return {
            why: "downtime",
            from: point.lastFinal + MINUTE,
            until: Math.min(until, present),
            minutes: point.minutes,
          } satisfies Load
        }
        if (config.historyDays === 0 || (yield* store.minuteBefore(feed.exchange, symbol, now)) !== undefined)
          return undefined
        return { why: "first", from: bucketStart(now, DAY) - config.historyDays * DAY, until } satisfies Load
      }).pipe(
        // Where the store cannot say, the aggregator's own resume reports it; nothing is loaded here.
        Effect.orElseSucceed(() => undefined),
      )

    const load = (feed: FeedConfig, source: DaySource, symbol: string, what: Load) =>
      Effect.gen(function* () {
        const name = `${feed.exchange} ${symbol}`
        yield* Effect.logInfo(
          what.why === "first"
            ? `${name}: first start; loading ${iso(what.from)} to ${iso(what.until)} from REST history (HISTORY_DAYS)`
            : `${name}: down since ${iso(what.from)}, longer than CANDLE_REPAIR_HORIZON_MS; loading ${iso(what.from)} to ${iso(what.until)} from REST history`,
        )
        const loaded = yield* Effect.either(
          importDay({
            exchange: feed.exchange,
            day: {
              symbol,
              instrument: EXCHANGES[feed.exchange].venue.instrument(symbol),
              day: `${iso(what.from)}/${iso(what.until)}`,
              start: what.from,
              end: what.until,
            },
            source,
            options: pipelineOptions(config),
            store,
            ...(what.why === "downtime" ? { continueFrom: what.minutes } : {}),
            onTrades: () => Effect.void,
          }),
        )
        if (Either.isLeft(loaded))
          return yield* Effect.logWarning(
            `${name}: history not loaded (${loaded.left.message}); starting live without it, so ${what.why === "first" ? "candles before the first live trade stay empty" : "the downtime's candles stay incomplete"}`,
          )
        const { trades, mismatches, checked } = loaded.right
        yield* Effect.logInfo(
          `${name}: ${trades} trade(s) of history loaded${checked ? `; ${mismatches.length} 1m candle(s) differ from the exchange's` : ""}; going live from its last trade`,
        )
      })

    for (const feed of config.feeds) {
      const source = restDaysOf(feed)
      for (const symbol of feed.symbols) {
        const what = yield* loadOf(feed, symbol)
        if (what === undefined || what.until <= what.from) continue
        if (source === undefined) {
          yield* Effect.logWarning(
            `${feed.exchange} ${symbol}: ${what.why === "first" ? `HISTORY_DAYS=${config.historyDays} ignored` : `down since ${iso(what.from)}, longer than CANDLE_REPAIR_HORIZON_MS, and not repaired`}: the exchange has no REST trade history to load it from`,
          )
          continue
        }
        yield* load(feed, source, symbol, what)
      }
    }
    return {}
  }),
}) {}
