import { Clock, Effect, Either } from "effect"
import { EXCHANGES } from "../../exchanges/registry.js"
import { AppConfig, pipelineOptions } from "../../layers/AppConfig.js"
import { CandleStore } from "../../layers/CandleStore.js"
import { bucketStart, MINUTE } from "../../schema/Candle.js"
import { importDay } from "./ImportDay.js"
import { restDaysOf } from "./RestDays.js"

const DAY = 86_400_000

const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z")

/**
 * `HISTORY_DAYS=N`: on a first start, a symbol with nothing stored is loaded from the exchange's REST history
 * (found by time, within its weight budget) from N whole UTC days before today up to a couple of grace periods ago,
 * through the same candle path as live trades, before its aggregator starts. That stores final candles and the last
 * trade id of the newest, so the aggregator then resumes as after a restart: its open candles rebuilt from the stored
 * minutes, and the backfill fetching by id from that trade on to the live stream. History and live meet at one trade
 * id, and no trade is counted twice. A symbol whose history cannot be read starts live as before, with a warning.
 */
export class FirstStartHistory extends Effect.Service<FirstStartHistory>()("ingestd/FirstStartHistory", {
  effect: Effect.gen(function* () {
    const config = yield* AppConfig
    const store = yield* CandleStore
    if (config.historyDays === 0) return {}
    const now = yield* Clock.currentTimeMillis
    const from = bucketStart(now, DAY) - config.historyDays * DAY
    // Minutes this old are settled: the live path takes over from the last trade of the newest one.
    const until = bucketStart(now - 2 * config.candleGraceMs, MINUTE)
    for (const feed of config.feeds) {
      const { venue } = EXCHANGES[feed.exchange]
      const source = restDaysOf(feed)
      if (source === undefined) {
        yield* Effect.logWarning(
          `${feed.exchange}: HISTORY_DAYS=${config.historyDays} ignored: it has no REST trade history to load days from`,
        )
        continue
      }
      for (const symbol of feed.symbols) {
        const stored = yield* Effect.either(store.minuteBefore(feed.exchange, symbol, now))
        if (Either.isRight(stored) && stored.right !== undefined) continue
        const what = `${feed.exchange} ${symbol}`
        yield* Effect.logInfo(
          `${what}: first start; loading ${iso(from)} to ${iso(until)} from REST history (HISTORY_DAYS)`,
        )
        const loaded = yield* Effect.either(
          importDay({
            exchange: feed.exchange,
            day: {
              symbol,
              instrument: venue.instrument(symbol),
              day: `${iso(from)}/${iso(until)}`,
              start: from,
              end: until,
            },
            source,
            options: pipelineOptions(config),
            store,
            onTrades: () => Effect.void,
          }),
        )
        if (Either.isLeft(loaded)) {
          yield* Effect.logWarning(
            `${what}: history not loaded (${loaded.left.message}); starting live without it, so candles before the first live trade stay empty`,
          )
          continue
        }
        const { trades, mismatches, checked } = loaded.right
        yield* Effect.logInfo(
          `${what}: ${trades} trade(s) of history loaded${checked ? `; ${mismatches.length} 1m candle(s) differ from the exchange's` : ""}; going live from its last trade`,
        )
      }
    }
    return {}
  }),
}) {}
