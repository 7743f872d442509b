import { Clock, Data, Duration, Effect, Metric, Queue } from "effect"
import type { GapDetector } from "../../domain/GapDetector.js"
import type { IngestionMode } from "../../domain/SymbolStats.js"
import { firstTradeAnchor, type TradeHistory } from "../../exchanges/Venue.js"
import * as Metrics from "../../layers/Metrics.js"
import { makeRestClient, type RestClientSpec } from "../../layers/Rest.js"
import type { ExchangeId, Trade } from "../../schema/Market.js"
import type { AggregatorMessage } from "../aggregation/Aggregator.js"
import type { FeedPort } from "../aggregation/FeedPort.js"

/** The exchange's history could not give the trades a gap needs (a page we cannot read, ids it does not have). */
export class HistoryIncomplete extends Data.TaggedError("HistoryIncomplete")<{
  readonly exchange: ExchangeId
  readonly symbol: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.exchange} ${this.symbol} trade history: ${this.reason}`
  }
}

const OPEN = Number.POSITIVE_INFINITY

/** What one symbol's backfill still has to fetch: one piece of work per symbol, requests merged into it. */
interface Work {
  /** Gaps that close once the work is done. */
  readonly keys: Array<string>
  /** Trades with ids after this one are wanted (undefined: none known yet, so from `fromTs` on)… */
  afterId: number | undefined
  /** …up to this one; +∞ means up to the newest (after an outage, while polling). */
  untilId: number
  /** Earliest trade time the work covers: past the repair horizon it can no longer change a candle. */
  fromTs: number
  /** Where no id is known, the first trade is looked for by time from `fromTs` up to here (+∞: up to now). */
  untilTs: number
  /** The whole range is wanted, even below ids fetched before (a fresh start's trades before its first). */
  whole: boolean
  /** Polled trades are the feed's live data: they move the watermark. */
  live: boolean
}

/** What a feed's REST actors (backfill, reconciler) share: the feed, and its exchange's REST API. */
export interface FeedRest {
  readonly exchange: ExchangeId
  readonly port: FeedPort
  readonly instrument: (symbol: string) => string
  /** The venue's REST API: where, within which budget (shared by the feed's REST actors), how long a request may take. */
  readonly rest: Omit<RestClientSpec, "exchange" | "onRetry">
}

export interface BackfillSpec extends FeedRest {
  readonly detector: GapDetector
  readonly history: TradeHistory
  readonly retryInterval: Duration.Duration
  /** How far back a gap's candles wait for its trades (the aggregators' repair horizon): failed work is retried so long. */
  readonly repairHorizonMs: number
}

/**
 * One feed's backfill actor. Gaps (a trade-id gap seen live, an outage, a restart's downtime) and polls become
 * one piece of work per symbol; a single fiber works through them in turn, within the exchange's REST rate limit
 * (the REST client waits for its weight budget), and hands the fetched trades to the symbol's aggregator, whose
 * dedupe by id makes any overlap with live trades harmless. A gap closes only once its trades are all in; work
 * the REST API could not do is tried again every BACKFILL_RETRY_MS for as long as its candles wait for it.
 */
export const makeBackfill = (spec: BackfillSpec) =>
  Effect.gen(function* () {
    const { exchange, port, detector, history } = spec
    const pending = new Map<string, Work>()
    /** Symbols with pending work, in arrival order; one entry per symbol. */
    const ready = yield* Queue.unbounded<string>()
    /** Newest trade fetched per symbol: a later request for ids below it has nothing left to fetch. */
    const fetched = new Map<string, { readonly id: number; readonly ts: number }>()
    const polling = new Set<string>()
    const tagged = <T, I, O>(m: Metric.Metric<T, I, O>, symbol: string) =>
      Metric.tagged(Metric.tagged(m, "exchange", exchange), "symbol", symbol)

    const enqueue = (symbol: string, work: Work) => {
      const current = pending.get(symbol)
      if (current === undefined) {
        pending.set(symbol, work)
        return ready.offer(symbol)
      }
      current.keys.push(...work.keys)
      current.afterId =
        current.afterId === undefined || work.afterId === undefined
          ? undefined
          : Math.min(current.afterId, work.afterId)
      current.untilId = Math.max(current.untilId, work.untilId)
      current.fromTs = Math.min(current.fromTs, work.fromTs)
      current.untilTs = Math.max(current.untilTs, work.untilTs)
      current.whole ||= work.whole
      current.live ||= work.live
      return Effect.void
    }

    const deliver = (symbol: string, m: AggregatorMessage) => port.routes.get(symbol)!.offer(m)

    /** Work that fills gaps: they count as unfilled from now until it is done or given up. */
    const fill = (symbol: string, work: Work) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        port.stats.openGap(symbol, now)
        return enqueue(symbol, work)
      })

    /** The symbol's ingestion mode, in the status API and in `ingestion_status`. */
    const setMode = (symbol: string, mode: IngestionMode, error?: string) => {
      port.stats.modeChanged(symbol, mode)
      return port.progress.setMode(symbol, mode, error)
    }

    /** The symbol being worked on, whose status shows a REST failure while the client still retries. */
    let current: string | undefined
    const rest = makeRestClient({
      ...spec.rest,
      exchange,
      onRetry: (error) =>
        Effect.sync(() => {
          if (current !== undefined) port.stats.backfillFailed(current, error.message, true)
        }),
    })

    /** Ids `firstId..lastId` went missing between trade times `fromTs` and `toTs`; the router opened gap `key`. */
    const gap = (symbol: string, key: string, firstId: number, lastId: number, fromTs: number) =>
      fill(symbol, {
        keys: [key],
        afterId: firstId - 1,
        untilId: lastId,
        fromTs,
        untilTs: OPEN,
        whole: false,
        live: false,
      })

    /**
     * What traded from `fromTs` up to id `untilId` (the first trade seen, at `untilTs`), found by time: the open
     * candles' trades before a fresh start.
     */
    const coldStart = (symbol: string, key: string, fromTs: number, untilId: number, untilTs: number) =>
      fill(symbol, { keys: [key], afterId: undefined, untilId, fromTs, untilTs, whole: true, live: false })

    /**
     * Whatever traded since the newest id we hold (or, for a symbol of which we hold none, since trade time
     * `fromTs`), up to now: after an outage or a restart. Candles from then on are incomplete until it is in.
     */
    const catchUp = (symbol: string, fromTs: number) =>
      Effect.gen(function* () {
        const last = detector.last(symbol)
        const from = last?.ts ?? fromTs
        const key = `outage:${symbol}:${from}`
        yield* deliver(symbol, { _tag: "Gap", key, fromTs: from, toTs: Number.POSITIVE_INFINITY })
        yield* fill(symbol, {
          keys: [key],
          afterId: last?.id,
          untilId: OPEN,
          fromTs: from,
          untilTs: OPEN,
          whole: false,
          live: false,
        })
      })

    /** While the WebSocket is down: fetch what traded since the newest id, as live data. */
    const poll = (symbol: string) =>
      Effect.suspend(() => {
        const last = detector.last(symbol)
        if (last === undefined) return Effect.void
        return enqueue(symbol, {
          keys: [],
          afterId: last.id,
          untilId: OPEN,
          fromTs: last.ts,
          untilTs: OPEN,
          whole: false,
          live: true,
        })
      })

    const setPolling = (symbols: ReadonlyArray<string>, on: boolean) =>
      Effect.forEach(
        symbols,
        (symbol) => {
          if (on === polling.has(symbol)) return Effect.void
          if (on) polling.add(symbol)
          else polling.delete(symbol)
          return setMode(symbol, on ? "polling" : "websocket")
        },
        { discard: true },
      )

    /** Fetches pages until the work's last id (or a short page: nothing newer yet); returns the trades taken. */
    const fetch = (symbol: string, work: Work) =>
      Effect.gen(function* () {
        let taken = 0
        const known = work.whole ? undefined : fetched.get(symbol)
        let start = work.afterId ?? known?.id
        if (start === undefined) {
          // Up to the exchange's present, its time as the feed knows it (a replayed tape's may be years back).
          const now = yield* Clock.currentTimeMillis
          const until = Math.min(work.untilTs, port.watermark.started ? port.watermark.at(now) : now)
          const anchor = yield* firstTradeAnchor(history, spec.instrument(symbol), work.fromTs, until, (r) =>
            rest.get(r.path, r.query, r.weight),
          )
          if (typeof anchor === "string")
            return yield* new HistoryIncomplete({ exchange, symbol, reason: `cannot find trades by time: ${anchor}` })
          if (anchor === undefined) return taken
          start = anchor
        }
        let after = start
        let afterTs = work.fromTs
        if (known !== undefined && known.id > start) ({ id: after, ts: afterTs } = known)
        const key = work.keys[0] ?? `poll:${symbol}`
        while (after < work.untilId) {
          const request = history.after(spec.instrument(symbol), after, afterTs)
          const body = yield* rest.get(request.path, request.query, request.weight)
          const now = yield* Clock.currentTimeMillis
          const read = history.read(body, symbol, now)
          if (typeof read === "string")
            return yield* new HistoryIncomplete({ exchange, symbol, reason: `unreadable page: ${read}` })
          const fresh = read.filter((t) => t.seq > after)
          const page = fresh.filter((t) => t.seq <= work.untilId)
          if (page.length > 0) {
            const newest: Trade = page.at(-1)!
            yield* deliver(symbol, { _tag: "Backfill", key, trades: page, last: false })
            detector.advance(symbol, newest.seq, newest.exchangeTs)
            if (work.live) {
              port.watermark.observe(newest.exchangeTs, now)
              for (const t of page) port.stats.trade(symbol, now, t.exchangeTs)
              yield* deliver(symbol, { _tag: "Watermark", span: undefined })
            }
            after = newest.seq
            afterTs = newest.exchangeTs
            fetched.set(symbol, { id: after, ts: afterTs })
            taken += page.length
          }
          if (history.exhausted(read.length, fresh.length)) break
          // A full page with nothing new (more trades in one instant than a page holds) would be asked for forever.
          if (fresh.length === 0)
            return yield* new HistoryIncomplete({
              exchange,
              symbol,
              reason: `no trade after id ${after} in a full page`,
            })
        }
        if (work.untilId !== OPEN && after < work.untilId)
          return yield* new HistoryIncomplete({
            exchange,
            symbol,
            reason: `history ends at id ${after}, before ${work.untilId}`,
          })
        return taken
      })

    const work = (symbol: string) =>
      Effect.gen(function* () {
        const w = pending.get(symbol)
        if (w === undefined) return
        pending.delete(symbol)
        const filling = w.keys.length > 0
        if (filling) {
          port.stats.filling(symbol)
          yield* setMode(symbol, "backfill")
        }
        current = symbol
        const outcome = yield* Effect.either(fetch(symbol, w))
        current = undefined
        const mode: IngestionMode = polling.has(symbol) ? "polling" : "websocket"
        if (outcome._tag === "Right") {
          for (const key of w.keys) yield* deliver(symbol, { _tag: "Backfill", key, trades: [], last: true })
          port.stats.closeGaps(symbol, w.keys.length)
          port.stats.backfilled(symbol, outcome.right)
          if (outcome.right > 0) yield* Metric.incrementBy(tagged(Metrics.backfilledTrades, symbol), outcome.right)
          if (filling) {
            yield* setMode(symbol, mode)
            yield* port.progress.recordFill(symbol, outcome.right)
            yield* Effect.logInfo(
              `${exchange} ${symbol}: backfilled ${outcome.right} trade(s) from REST history; ${w.keys.length} gap(s) filled`,
            )
          }
          return
        }
        const error = outcome.left
        const now = yield* Clock.currentTimeMillis
        const retryable = error._tag !== "RestRejected" && w.fromTs >= now - spec.repairHorizonMs
        port.stats.backfillFailed(symbol, error.message, retryable)
        yield* Metric.increment(tagged(Metrics.backfillFailures, symbol))
        yield* setMode(symbol, mode, error.message)
        if (retryable) {
          yield* Effect.logWarning(
            `${exchange} ${symbol}: backfill failed (${error.message}); candles stay incomplete, trying again in ${Duration.format(spec.retryInterval)}`,
          )
          // A child of the actor's fiber: it ends with the actor.
          yield* Effect.fork(Effect.delay(enqueue(symbol, w), spec.retryInterval))
        } else {
          port.stats.closeGaps(symbol, w.keys.length)
          yield* Effect.logError(
            `${exchange} ${symbol}: giving up the backfill of ${w.keys.length} gap(s) (${error.message}); their candles stay marked incomplete`,
          )
        }
      }).pipe(Effect.annotateLogs("symbol", symbol))

    const run = Effect.forever(Effect.flatMap(ready.take, work))

    return { gap, coldStart, catchUp, poll, setPolling, run } as const
  })

export type Backfill = Effect.Effect.Success<ReturnType<typeof makeBackfill>>
