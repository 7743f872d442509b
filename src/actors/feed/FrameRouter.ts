import { Clock, Effect, LogLevel, type Mailbox, Metric, Option } from "effect"
import type { ActivityMonitor } from "../../domain/ActivityMonitor.js"
import type { GapDetector, TradeGap } from "../../domain/GapDetector.js"
import { clip, isoOrNumber } from "../../domain/Limits.js"
import type { Decoder } from "../../exchanges/Venue.js"
import * as Metrics from "../../layers/Metrics.js"
import { bucketStart, MINUTE } from "../../schema/Candle.js"
import type { ExchangeId, Quote, Trade } from "../../schema/Market.js"
import type { AggregatorMessage } from "../aggregation/Aggregator.js"
import type { Backfill } from "./Backfill.js"
import type { FeedPort } from "../aggregation/FeedPort.js"
import type { InboundFrame } from "./Socket.js"

const gapKey = (g: TradeGap) => `ids:${g.firstMissing}-${g.lastMissing}`
const COLD_START = "cold-start"

export interface FrameRouterSpec {
  readonly exchange: ExchangeId
  readonly port: FeedPort
  /** Where ids are contiguous: the detector shared by all of the feed's connections, and how many ids a record spans. */
  readonly gaps: { readonly detector: GapDetector; readonly span: (t: Trade) => number } | undefined
  /** Where gaps go to be filled from the exchange's history; undefined where the venue has none. */
  readonly backfill: Backfill | undefined
  /** Whether that history reaches back to the start of a fresh start's open candles (see `Venue`). */
  readonly historyReachesBack: boolean
  readonly graceMs: number
  /** The longest timeframe's period: a fresh start's first trade leaves open candles reaching this far back. */
  readonly longestPeriodMs: number
  readonly activity: ActivityMonitor
  /** Where a frame that exposed a defect goes, with the error: a bounded sample on disk, a log line, a metric. */
  readonly defect: (frame: InboundFrame, error: unknown) => Effect.Effect<void>
}

export interface Routed {
  /** Trades and quotes among the frames. */
  readonly data: number
  /** The server's notice that it will close the connection, if one came. */
  readonly shutdown: string | undefined
}

/**
 * Turns a batch of frames into aggregator messages: one offerAll per symbol per batch rather than one per trade.
 * Trades already seen (a subscribe snapshot, a rotation overlap) are dropped here by id; the watermark moves only
 * after the batch is offered, so an aggregator never finalises a candle while a trade for it still sits in this
 * batch. Offering is uninterruptible: a batch whose ids the gap detector has recorded is delivered whole.
 */
export const makeFrameRouter = (spec: FrameRouterSpec) => {
  const { exchange, port, gaps, activity } = spec
  let notifiedBucket = Number.NEGATIVE_INFINITY
  const exchangeTag = <T, I, O>(m: Metric.Metric<T, I, O>) => Metric.tagged(m, "exchange", exchange)

  const coldFrom = (t: Trade) => bucketStart(t.exchangeTs, spec.longestPeriodMs)
  /**
   * A fresh start's first trade of a symbol: the candles open then hold only what came since, so they are
   * incomplete until the trades before it in their periods are fetched by time, or for good where the venue has no
   * history to fetch them from.
   */
  const coldStart = (t: Trade) =>
    Effect.gen(function* () {
      const what = `${exchange} ${t.symbol}: first trade at ${isoOrNumber(t.exchangeTs)} on a fresh start`
      const before = gaps === undefined ? undefined : t.seq - gaps.span(t)
      const fillsByTime = before !== undefined && spec.backfill !== undefined && spec.historyReachesBack
      // Where the open candles are filled by time, no resume point is recorded until a candle is final: one at this
      // trade would let a restart (or a fleet member taking the symbol over) skip the trades the fill fetched
      // before it, while without one it starts fresh and fills them again.
      if (before !== undefined && !fillsByTime)
        yield* port.progress.start(t.symbol, before, bucketStart(t.exchangeTs, MINUTE))
      if (!fillsByTime)
        return yield* Effect.logInfo(
          `${what}; candles from ${isoOrNumber(coldFrom(t))} until it are marked incomplete (this venue has no trade history ${spec.backfill === undefined ? "" : "by time "}to fill them from)`,
        )
      yield* spec.backfill!.coldStart(t.symbol, COLD_START, coldFrom(t), before!, t.exchangeTs)
      yield* Effect.logInfo(
        `${what}; filling its open candles from ${isoOrNumber(coldFrom(t))} by time from REST history`,
      )
    })

  const routeDuration = exchangeTag(Metric.tagged(Metrics.processingDuration, "stage", "route"))
  const batchFrames = exchangeTag(Metrics.frameBatchSize)

  return (frames: ReadonlyArray<InboundFrame>, decode: Decoder): Effect.Effect<Routed> =>
    Effect.uninterruptible(
      Effect.flatMap(Effect.option(Effect.currentSpan), (current) => {
        // Leads each symbol's share of the batch: wakes its aggregator and hands it the batch's span.
        const notice: AggregatorMessage = { _tag: "Watermark", span: Option.getOrUndefined(current) }
        const outboxes = new Map<Mailbox.Mailbox<AggregatorMessage>, Array<AggregatorMessage>>()
        const push = (symbol: string, m: AggregatorMessage) => {
          const mailbox = port.routes.get(symbol)!
          const box = outboxes.get(mailbox)
          if (box === undefined) outboxes.set(mailbox, [notice, m])
          else box.push(m)
        }
        const found: Array<TradeGap> = []
        /**
         * Symbols' first trades in a run that found no resume point: where a restart must start from, and where the
         * open candles' trades before them are missing.
         */
        const firsts: Array<Trade> = []
        const duplicates = new Map<string, number>()
        const rejected = new Map<string, number>()
        const ignored = new Map<string, number>()
        const notes: Array<Effect.Effect<void>> = []
        let data = 0
        let shutdown: string | undefined
        let eventTs = Number.NaN
        let arrivalTs = Number.NaN
        /** The first refusal of each reason in the batch, explained in one debug line with the reason's count. */
        const examples = new Map<string, () => string>()
        const refuse = (reason: string, detail: () => string) => {
          rejected.set(reason, (rejected.get(reason) ?? 0) + 1)
          if (!examples.has(reason)) examples.set(reason, detail)
        }

        const trade = (t: Trade, recvTs: number) => {
          data++
          if (gaps !== undefined && t.seq >= 0) {
            const seen = gaps.detector.observe(t.symbol, t.seq - gaps.span(t) + 1, t.seq, t.exchangeTs)
            if (seen === "duplicate") {
              duplicates.set(t.symbol, (duplicates.get(t.symbol) ?? 0) + 1)
              return
            }
            if (seen === "implausible") {
              refuse("out_of_range", () => `${t.symbol}: trade id ${t.seq} skips more ids than a venue plausibly can`)
              return
            }
            if (seen !== undefined) {
              found.push(seen)
              push(t.symbol, { _tag: "Gap", key: gapKey(seen), fromTs: seen.fromTs, toTs: seen.toTs })
            }
          }
          push(t.symbol, t)
          if (port.stats.trade(t.symbol, recvTs, t.exchangeTs) && !port.resume.has(t.symbol)) {
            firsts.push(t)
            push(t.symbol, { _tag: "Gap", key: COLD_START, fromTs: coldFrom(t), toTs: t.exchangeTs })
          }
          const back = activity.observe(t.symbol, recvTs)
          if (back !== undefined) notes.push(Effect.logInfo(`${exchange} ${t.symbol}: trading again`))
          // The watermark follows the freshest trade: the one whose exchange time is closest to its arrival.
          if (!(t.exchangeTs - recvTs <= eventTs - arrivalTs)) {
            eventTs = t.exchangeTs
            arrivalTs = recvTs
          }
        }
        const item = (x: Trade | Quote, recvTs: number) => {
          if (x._tag === "Trade") trade(x, recvTs)
          else {
            data++
            push(x.symbol, x)
          }
        }

        const defect = (f: InboundFrame, error: unknown) => {
          rejected.set("defect", (rejected.get("defect") ?? 0) + 1)
          notes.push(spec.defect(f, error))
        }

        for (const f of frames) {
          // A defect is caught per frame: the frame is set aside with its error, the rest of the batch goes on.
          try {
            const r = decode(f.raw, f.recvTs)
            switch (r._tag) {
              case "Trade":
              case "Quote":
                item(r, f.recvTs)
                break
              case "Batch":
                for (const x of r.items) item(x, f.recvTs)
                break
              case "Control":
                break
              case "Shutdown":
                shutdown = clip(r.detail)
                break
              case "ServerError":
                notes.push(Effect.logWarning(`${exchange} refused a request: ${clip(r.message)}`))
                break
              case "Ignored":
                ignored.set(r.reason, (ignored.get(r.reason) ?? 0) + 1)
                break
              case "Invalid":
                refuse(r.reason, r.detail)
                break
              case "Defect":
                defect(f, r.error)
                break
            }
          } catch (error) {
            defect(f, error)
          }
        }
        return Effect.gen(function* () {
          for (const [mailbox, messages] of outboxes) yield* mailbox.offerAll(messages)
          if (!Number.isNaN(eventTs)) port.watermark.observe(eventTs, arrivalTs)
          const now = yield* Clock.currentTimeMillis
          if (port.watermark.started) {
            const due = bucketStart(port.watermark.at(now) - spec.graceMs - MINUTE + 1, MINUTE)
            if (due > notifiedBucket) {
              notifiedBucket = due
              for (const mailbox of port.routes.values()) if (!outboxes.has(mailbox)) yield* mailbox.offer(notice)
            }
          }
          yield* Metric.incrementBy(exchangeTag(Metrics.framesReceived), frames.length)
          for (const [reason, n] of rejected)
            yield* Metric.incrementBy(Metric.tagged(exchangeTag(Metrics.framesRejected), "reason", reason), n)
          for (const [reason, n] of ignored)
            yield* Metric.incrementBy(Metric.tagged(exchangeTag(Metrics.framesIgnored), "reason", reason), n)
          for (const [symbol, n] of duplicates)
            yield* Metric.incrementBy(
              Metric.tagged(
                Metric.tagged(exchangeTag(Metrics.tradesDiscarded), "symbol", symbol),
                "reason",
                "duplicate",
              ),
              n,
            )
          for (const gap of found) {
            const missing = gap.lastMissing - gap.firstMissing + 1
            port.stats.gap(gap.symbol, missing, now)
            if (spec.backfill !== undefined)
              yield* spec.backfill.gap(gap.symbol, gapKey(gap), gap.firstMissing, gap.lastMissing, gap.fromTs)
            yield* Metric.increment(Metric.tagged(exchangeTag(Metrics.gapsDetected), "symbol", gap.symbol))
            yield* Metric.incrementBy(Metric.tagged(exchangeTag(Metrics.gapTrades), "symbol", gap.symbol), missing)
            yield* Effect.logWarning(
              `${exchange} ${gap.symbol}: ${missing} trade(s) missing (ids ${gap.firstMissing}..${gap.lastMissing}) between ${isoOrNumber(gap.fromTs)} and ${isoOrNumber(gap.toTs)}; candles in that range marked incomplete${spec.backfill === undefined ? " (this venue has no trade history to fill it from)" : " until backfilled"}`,
            )
          }
          for (const t of firsts) yield* coldStart(t)
          for (const note of notes) yield* note
          for (const [reason, detail] of examples)
            yield* Effect.whenLogLevel(
              Effect.suspend(() =>
                Effect.logDebug(`${exchange}: dropped ${rejected.get(reason)} ${reason} frame(s), e.g. ${detail()}`),
              ),
              LogLevel.Debug,
            )
          yield* Metric.update(batchFrames, frames.length)
          yield* Effect.annotateCurrentSpan("items", data)
          return { data, shutdown } satisfies Routed
        })
      }),
    ).pipe(
      Metric.trackDuration(routeDuration),
      // One span per batch, never per trade: the unit of work a trace starts from.
      Effect.withSpan("Feed.frames", {
        kind: "consumer",
        root: true,
        // A stack trace per span costs more than the rest of the span; the name says where it comes from.
        captureStackTrace: false,
        attributes: { exchange, frames: frames.length },
      }),
    )
}
