import { Effect, Layer, Option } from "effect"
import { isoOrNumber } from "../domain/Limits.js"
import { AppConfig } from "../layers/AppConfig.js"
import { CandleStore } from "../layers/CandleStore.js"
import { Health } from "../layers/Health.js"
import { StatusView } from "../layers/StatusView.js"
import { Aggregators } from "./aggregation/Aggregators.js"
import { Alerts } from "./Alerts.js"
import { DeadLetterWatch } from "./DeadLetterWatch.js"
import { Fleet } from "./Fleet.js"
import { Sinks } from "./Sinks.js"

const iso = (ms: number | undefined) => (ms === undefined ? null : isoOrNumber(ms))

/**
 * `/api/status`: each feed with its connections and, per symbol, what it delivered (last trade, rate, gaps) beside
 * its row in `ingestion_status`; then every other component's health, each sink's buffers, and the open data-quality
 * incidents. A database that cannot be read leaves the rest of the answer intact and says so.
 */
export const StatusViewLive = Layer.effect(
  StatusView,
  Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const { ports } = yield* Aggregators
    const alerts = yield* Alerts
    const sinkRegistry = yield* Sinks
    const deadLetterWatch = yield* DeadLetterWatch
    const store = yield* CandleStore
    const fleet = yield* Fleet
    const status = Effect.gen(function* () {
      const report = yield* health.report
      const incidents = yield* alerts.open
      const sinks = sinkRegistry.status()
      const deadLetters = yield* deadLetterWatch.status
      const stored = yield* store.ingestionStatus.pipe(
        Effect.either,
        Effect.tap((r) =>
          r._tag === "Left" ? Effect.logWarning("ingestion_status query failed", r.left) : Effect.void,
        ),
      )
      const rows = stored._tag === "Right" ? stored.right : []
      const silent = new Set(
        incidents.filter((n) => n.rule === "symbol_silent").map((n) => `${n.exchange}:${n.symbol}`),
      )
      const isFeed = (exchange: string) => (name: string) =>
        name === `feed:${exchange}` || name.startsWith(`feed:${exchange}#`)
      const feeds = config.feeds.map((feed) => ({
        exchange: feed.exchange,
        connections: Object.entries(report.components)
          .filter(([name]) => isFeed(feed.exchange)(name))
          .map(([name, c]) => ({ name, ...c, since: iso(c.since) })),
        symbols: (ports.get(feed.exchange)?.stats.all() ?? []).map((s) => ({
          symbol: s.symbol,
          state: silent.has(`${feed.exchange}:${s.symbol}`)
            ? "silent"
            : s.lastTradeAt === undefined
              ? "waiting"
              : "trading",
          lastTradeAt: iso(s.lastTradeAt),
          lastExchangeTime: iso(s.lastExchangeTs),
          trades: s.trades,
          ratePerSec: Math.round(s.ratePerSec * 100) / 100,
          gaps: s.gaps,
          missingTrades: s.missingTrades,
          lastGapAt: iso(s.lastGapAt),
          // Candles overlapping an unfilled gap are stored with complete=false until the backfill brings it in.
          backfill: {
            unfilledGaps: s.unfilledGaps,
            unfilledSince: iso(s.unfilledSince),
            state: s.backfill,
            error: s.backfillError ?? null,
            trades: s.backfilledTrades,
          },
          mode: s.mode,
          // Our final 1m candles against the exchange's own; null where the exchange publishes none.
          reconciliation:
            ports.get(feed.exchange)?.due === undefined
              ? null
              : {
                  checked: s.reconciled,
                  mismatched: s.mismatched,
                  lastCheckedMinute: iso(s.lastReconciledMinute),
                  lastMismatch:
                    s.lastMismatch === undefined
                      ? null
                      : { minute: iso(s.lastMismatch.minute), fields: s.lastMismatch.fields },
                },
          ingestion: rows.filter((r) => r.exchange === feed.exchange && r.symbol === s.symbol),
        })),
      }))
      const others = Object.fromEntries(
        Object.entries(report.components)
          .filter(([name]) => !name.startsWith("feed:"))
          .map(([name, c]) => [name, { ...c, since: iso(c.since) }]),
      )
      return {
        ready: report.ready,
        unhealthy: report.unhealthy,
        feeds,
        components: others,
        sinks,
        // The dead-letter queues' depths and whether a bound caps them; null without a broker.
        deadLetters: Option.getOrNull(deadLetters),
        alerts: incidents,
        // Members, who holds which symbol's lease and how fresh it is; null outside a fleet.
        fleet: yield* fleet.status,
        ...(stored._tag === "Left" ? { ingestionStatusError: "store unavailable" } : {}),
      }
    })
    return { status }
  }),
)
