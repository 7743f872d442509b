import { Duration, Effect, Option, Stream } from "effect"
import type { VenueCandle } from "../../domain/Reconciliation.js"
import { WeightBudget } from "../../domain/WeightBudget.js"
import { EXCHANGES } from "../../exchanges/registry.js"
import { type CandleHistory, firstTradeAnchor, type TradeHistory } from "../../exchanges/Venue.js"
import type { FeedConfig } from "../../layers/AppConfig.js"
import { makeRestClient, type RestRejected, type RestUnavailable } from "../../layers/Rest.js"
import type { Trade } from "../../schema/Market.js"
import { type Day, type DaySource, DayUnreadable } from "./DaySource.js"

export interface RestDaysSpec {
  readonly exchange: string
  readonly baseUrl: string
  /** The request weight a minute the daemon spends there (`<EXCHANGE>_REST_WEIGHT_PER_MINUTE`). */
  readonly weightPerMinute: number
  readonly history: TradeHistory
  readonly candles: CandleHistory | undefined
}

const unreadable = (what: string) => (e: RestUnavailable | RestRejected) =>
  new DayUnreadable({ what, reason: e.message, cause: e })

/**
 * Days from the exchange's REST API, within the weight budget the daemon uses: the trades from the first at or
 * after the day's start (found by time) page by page by id until the day ends, and the day's 1m candles where the
 * exchange publishes them. Venues whose history cannot be asked by time that far back fail the day, saying so.
 */
export const restDays = (spec: RestDaysSpec): DaySource => {
  const rest = makeRestClient({
    exchange: spec.exchange,
    baseUrl: spec.baseUrl,
    budget: new WeightBudget(spec.weightPerMinute, 60_000),
    timeout: Duration.seconds(30),
  })
  const get = (what: string, request: { path: string; query: Record<string, string | number>; weight: number }) =>
    rest.get(request.path, request.query, request.weight).pipe(Effect.mapError(unreadable(`${what} ${request.path}`)))

  const trades = (day: Day): Stream.Stream<ReadonlyArray<Trade>, DayUnreadable> =>
    Stream.unwrap(
      Effect.gen(function* () {
        const what = `${spec.exchange} ${day.symbol} trades`
        const anchor = yield* firstTradeAnchor(spec.history, day.instrument, day.start, day.end, (r) => get(what, r))
        if (typeof anchor === "string")
          return yield* new DayUnreadable({ what, reason: `cannot find the first trade by time: ${anchor}` })
        if (anchor === undefined) return Stream.empty
        return Stream.paginateEffect({ after: anchor, afterTs: day.start }, ({ after, afterTs }) =>
          Effect.gen(function* () {
            const request = spec.history.after(day.instrument, after, afterTs)
            const read = spec.history.read(yield* get(what, request), day.symbol, Date.now())
            if (typeof read === "string") return yield* new DayUnreadable({ what, reason: `unreadable page: ${read}` })
            const fresh = read.filter((t) => t.seq > after)
            const inDay = fresh.filter((t) => t.exchangeTs < day.end)
            const newest = fresh.at(-1)
            const more =
              newest !== undefined &&
              inDay.length === fresh.length &&
              !spec.history.exhausted(read.length, fresh.length)
            return [
              inDay as ReadonlyArray<Trade>,
              more ? Option.some({ after: newest.seq, afterTs: newest.exchangeTs }) : Option.none(),
            ] as const
          }),
        )
      }),
    )

  const klines = (day: Day) =>
    Effect.gen(function* () {
      const candles = spec.candles
      if (candles === undefined) return undefined
      const theirs = new Map<number, VenueCandle>()
      const step = candles.maxMinutes * 60_000
      for (let from = day.start; from < day.end; from += step) {
        const request = candles.request(day.instrument, from, Math.min(day.end, from + step) - 1)
        const read = candles.read(yield* get(`${spec.exchange} ${day.symbol} klines`, request))
        if (typeof read === "string")
          return yield* new DayUnreadable({ what: `${spec.exchange} ${day.symbol} klines`, reason: read })
        for (const k of read) if (k.openTime >= day.start && k.openTime < day.end) theirs.set(k.openTime, k)
      }
      return theirs
    })

  return { name: "rest", trades, klines }
}

/** The REST days of a feed's exchange, with the feed's URL, budget and settings; undefined where it has no history. */
export const restDaysOf = (feed: FeedConfig): DaySource | undefined => {
  const { venue } = EXCHANGES[feed.exchange]
  const history = venue.history?.(feed.settings)
  return history === undefined
    ? undefined
    : restDays({
        exchange: feed.exchange,
        baseUrl: feed.restUrl,
        weightPerMinute: feed.restWeightPerMinute,
        history,
        candles: venue.candles,
      })
}
