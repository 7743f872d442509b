import { it } from "@effect/vitest"
import { Duration, Effect, Mailbox, TestClock } from "effect"
import { describe, expect } from "vitest"
import type { AggregatorMessage } from "../../src/actors/aggregation/Aggregator.js"
import { makeBackfill } from "../../src/actors/feed/Backfill.js"
import { GapDetector } from "../../src/domain/GapDetector.js"
import { VENUES } from "../../src/exchanges/registry.js"
import { WeightBudget } from "../../src/domain/WeightBudget.js"
import { untilClockWait, waitUntil } from "../support/wait.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { synthetic } from "../../src/replay/Synthetic.js"
import type { ExchangeId } from "../../src/schema/Market.js"
import { testPort } from "../support/config.js"
import { norm } from "../support/reference.js"

const SYMBOL = "BTC/USDT"

/** Real time: the REST server is another party, answering while the TestClock stands still. */
const waitFor = (what: string, condition: () => boolean) => waitUntil(what, condition)

/** The actor has taken every answer and waits (TestClock) for its budget or a Retry-After, at most a minute. */
const parked = untilClockWait("the backfill to wait for its budget", 60_000)

/**
 * The replay exchange with `count` trades of BTC/USDT in its history (played to nobody), and a backfill actor for
 * it spending at most `weightPerMinute`; the actor's aggregator mailbox is returned for inspection.
 */
const setup = (count: number, weightPerMinute: number, exchange: ExchangeId = "binance") =>
  Effect.gen(function* () {
    const server = yield* Effect.acquireRelease(
      Effect.promise(() => ReplayServer.start()),
      (s) => Effect.promise(() => s.close()),
    )
    const venue = server.venue(exchange)
    const trades = [...synthetic({ symbols: [SYMBOL], rate: 100, count, start: 0, firstId: 1 })]
      .map((e) => e.event)
      .filter((e) => e.kind === "trade")
    venue.publish(trades)
    const mailbox = yield* Mailbox.make<AggregatorMessage>()
    const { port, recorded } = testPort([SYMBOL], new Map([[SYMBOL, mailbox]]))
    const backfill = yield* makeBackfill({
      exchange,
      port,
      detector: new GapDetector(),
      history: VENUES[exchange].history!({ tradeStream: "aggTrade" }),
      instrument: VENUES[exchange].instrument,
      rest: {
        baseUrl: server.restUrl(exchange),
        budget: new WeightBudget(weightPerMinute, 60_000),
        timeout: Duration.hours(1),
      },
      retryInterval: Duration.seconds(30),
      repairHorizonMs: 86_400_000,
    })
    yield* Effect.forkScoped(backfill.run)
    return { venue, mailbox, port, recorded, backfill, trades: trades.map((e) => e.trade) }
  })

describe("backfill actor against the replay exchange's REST history, on the TestClock", () => {
  it.scoped(
    "fills a 5,500-trade gap in 1,000-trade pages, never spending more than the configured weight per minute",
    () =>
      Effect.gen(function* () {
        // aggTrades weighs 2: two pages a minute.
        const { venue, mailbox, port, recorded, backfill } = yield* setup(5_500, 4)
        yield* backfill.gap(SYMBOL, "ids:1-5500", 1, 5_500, 0)

        const requests = () => venue.restLog.length
        yield* waitFor("two pages", () => requests() === 2)
        yield* parked
        expect(requests()).toBe(2)
        yield* TestClock.adjust(Duration.seconds(59))
        yield* parked
        expect(requests()).toBe(2)
        yield* TestClock.adjust(Duration.seconds(1))
        yield* waitFor("two more pages", () => requests() === 4)
        yield* parked
        yield* TestClock.adjust(Duration.minutes(1))
        yield* waitFor("the last two pages", () => requests() === 6)
        yield* waitFor("the gap filled", () => port.stats.of(SYMBOL)!.unfilledGaps === 0)
        expect(venue.restLog.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200])

        const [messages] = yield* mailbox.takeAll
        const ids = [...messages].flatMap((m) => (m._tag === "Backfill" ? m.trades.map((t) => t.seq) : []))
        expect(ids).toEqual(Array.from({ length: 5_500 }, (_, i) => i + 1))
        expect(
          [...messages].filter((m) => m._tag === "Backfill" && m.last).map((m) => m._tag === "Backfill" && m.key),
        ).toEqual(["ids:1-5500"])
        expect(port.stats.of(SYMBOL)!.unfilledGaps).toBe(0)
        expect(recorded).toEqual([`${SYMBOL} backfill`, `${SYMBOL} websocket`, `${SYMBOL} filled 5500`])
      }),
  )

  it.scoped("a 429 from the exchange pauses every request for its Retry-After, then the backfill completes", () =>
    Effect.gen(function* () {
      const { venue, port, backfill } = yield* setup(1_500, 1_000)
      // The exchange allows less than we think we may spend: its second page is refused with Retry-After.
      venue.restLimit = 2
      yield* backfill.gap(SYMBOL, "ids:1-1500", 1, 1_500, 0)
      yield* waitFor("the refused second page", () => venue.restLog.length === 2)
      yield* parked
      expect(venue.restLog.map((r) => r.status)).toEqual([200, 429])
      venue.restLimit = Number.POSITIVE_INFINITY
      const retryAfter = 60
      yield* TestClock.adjust(Duration.seconds(retryAfter - 1))
      yield* parked
      expect(venue.restLog).toHaveLength(2)
      yield* TestClock.adjust(Duration.seconds(1))
      yield* waitFor("the second page", () => venue.restLog.length === 3)
      yield* waitFor("the gap filled", () => port.stats.of(SYMBOL)!.unfilledGaps === 0)
      expect(venue.restLog.map((r) => r.status)).toEqual([200, 429, 200])
      expect(port.stats.of(SYMBOL)!.unfilledGaps).toBe(0)
    }),
  )

  /** The trades the backfill handed to the aggregator, in order. */
  const delivered = (mailbox: Mailbox.Mailbox<AggregatorMessage>) =>
    Effect.map(mailbox.takeAll, ([messages]) => [...messages].flatMap((m) => (m._tag === "Backfill" ? m.trades : [])))

  for (const exchange of ["coinbase", "kraken"] as const)
    describe(`${exchange}'s REST trade history`, () => {
      it.scoped("fills a 2,500-trade gap page by page: every trade once, in order, as the exchange had it", () =>
        Effect.gen(function* () {
          const { venue, mailbox, port, backfill, trades } = yield* setup(2_500, 1_000, exchange)
          yield* backfill.gap(SYMBOL, "ids:1-2500", 1, 2_500, 0)
          yield* waitFor("the gap filled", () => port.stats.of(SYMBOL)!.unfilledGaps === 0)
          expect(venue.restLog.every((r) => r.status === 200)).toBe(true)
          const got = yield* delivered(mailbox)
          expect(got.map((t) => t.seq)).toEqual(trades.map((t) => t.id))
          // By value: Kraken's WebSocket writes decimals as JSON numbers, its REST as padded text.
          expect(got.map((t) => [norm(t.priceText), norm(t.qtyText), t.side, t.exchangeTs])).toEqual(
            trades.map((t) => [norm(t.price), norm(t.qty), t.takerBuy ? "buy" : "sell", t.ts]),
          )
        }),
      )

      it.scoped("finds a symbol not seen yet by time: everything from then on, nothing before", () =>
        Effect.gen(function* () {
          const { port, mailbox, backfill, trades } = yield* setup(1_500, 1_000, exchange)
          const from = trades[1_200]!.ts
          yield* backfill.catchUp(SYMBOL, from)
          yield* waitFor("the catch-up done", () => port.stats.of(SYMBOL)!.unfilledGaps === 0)
          const got = yield* delivered(mailbox)
          expect(got.map((t) => t.seq)).toEqual(trades.filter((t) => t.ts >= from).map((t) => t.id))
        }),
      )
    })
})
