import type { SymbolStat } from "./SymbolStats.js"
import { isoOrNumber } from "./Limits.js"

export type AlertRule = "symbol_silent" | "all_silent" | "trade_gap" | "feed_backoff"
export type Severity = "warning" | "error"

/** A condition that holds now; the same key on consecutive checks is one incident. */
export interface Condition {
  readonly key: string
  readonly rule: AlertRule
  readonly severity: Severity
  readonly exchange?: string
  readonly symbol?: string
  readonly component?: string
  readonly message: string
}

/** What goes on `neuraltrade.notifications`: an incident opening, or its resolution. */
export interface Notification extends Omit<Condition, "key"> {
  readonly type: "data_quality_alert"
  readonly id: string
  readonly state: "open" | "resolved"
  /** When the incident opened, and when this notification was raised (ISO 8601). */
  readonly since: string
  readonly at: string
}

export interface AlertThresholds {
  readonly symbolSilentMs: number
  readonly allSilentMs: number
  readonly gapUnfilledMs: number
}

export interface FeedView {
  readonly exchange: string
  readonly startedAt: number
  readonly symbols: ReadonlyArray<Readonly<SymbolStat>>
}

export interface ComponentView {
  readonly name: string
  readonly state: string
  readonly detail?: string
}

const seconds = (ms: number) => `${Math.round(ms / 1_000)} s`

/** The seed's data-quality rules: which conditions hold at `now`. */
export const evaluateRules = (
  now: number,
  thresholds: AlertThresholds,
  feeds: ReadonlyArray<FeedView>,
  components: ReadonlyArray<ComponentView>,
): Array<Condition> => {
  const out: Array<Condition> = []
  let newest = Number.NEGATIVE_INFINITY
  let startedAt = Number.POSITIVE_INFINITY
  let symbols = 0
  for (const feed of feeds) {
    startedAt = Math.min(startedAt, feed.startedAt)
    for (const s of feed.symbols) {
      symbols++
      const last = s.lastTradeAt ?? s.since
      if (s.lastTradeAt !== undefined) newest = Math.max(newest, s.lastTradeAt)
      if (now - last >= thresholds.symbolSilentMs)
        out.push({
          key: `symbol_silent:${feed.exchange}:${s.symbol}`,
          rule: "symbol_silent",
          severity: "warning",
          exchange: feed.exchange,
          symbol: s.symbol,
          message:
            s.lastTradeAt === undefined
              ? `${feed.exchange} ${s.symbol}: no trade since start ${seconds(now - last)} ago`
              : `${feed.exchange} ${s.symbol}: no trade for ${seconds(now - last)} (last at ${isoOrNumber(last)})`,
        })
      if (s.unfilledSince !== undefined && now - s.unfilledSince >= thresholds.gapUnfilledMs)
        out.push({
          key: `trade_gap:${feed.exchange}:${s.symbol}`,
          rule: "trade_gap",
          severity: "warning",
          exchange: feed.exchange,
          symbol: s.symbol,
          message: `${feed.exchange} ${s.symbol}: ${s.unfilledGaps} gap(s) not backfilled for ${seconds(now - s.unfilledSince)}${s.backfillError === undefined ? "" : ` (${s.backfillError})`}; affected candles stay incomplete`,
        })
    }
  }
  const lastData = Math.max(newest, startedAt)
  if (symbols > 0 && now - lastData >= thresholds.allSilentMs)
    out.push({
      key: "all_silent",
      rule: "all_silent",
      severity: "error",
      message: `no trade from any of ${symbols} symbol(s) for ${seconds(now - lastData)}`,
    })
  for (const c of components)
    if (c.name.startsWith("feed:") && c.state === "backoff")
      out.push({
        key: `feed_backoff:${c.name}`,
        rule: "feed_backoff",
        severity: "warning",
        exchange: c.name.slice("feed:".length).split("#")[0]!,
        component: c.name,
        message: `${c.name} is reconnecting with backoff${c.detail === undefined ? "" : `: ${c.detail}`}`,
      })
  return out
}

/**
 * Open incidents by key: a condition that starts holding opens one (one notification), one that stops holding
 * resolves it (one more), however many checks it spans.
 */
export class IncidentBook {
  private readonly open = new Map<string, { readonly condition: Condition; readonly since: number }>()

  update(now: number, conditions: ReadonlyArray<Condition>): Array<Notification> {
    const out: Array<Notification> = []
    const holding = new Set<string>()
    for (const c of conditions) {
      holding.add(c.key)
      if (this.open.has(c.key)) continue
      this.open.set(c.key, { condition: c, since: now })
      out.push(notification(c, "open", now, now, c.message))
    }
    for (const [key, { condition, since }] of this.open) {
      if (holding.has(key)) continue
      this.open.delete(key)
      out.push(
        notification(condition, "resolved", since, now, `resolved after ${seconds(now - since)}: ${condition.message}`),
      )
    }
    return out
  }

  /** The incidents open now, for /api/status. */
  current(): Array<Notification> {
    return [...this.open.values()].map(({ condition, since }) =>
      notification(condition, "open", since, since, condition.message),
    )
  }
}

const notification = (
  c: Condition,
  state: "open" | "resolved",
  since: number,
  at: number,
  message: string,
): Notification => {
  const { key, ...condition } = c
  return {
    type: "data_quality_alert",
    id: `${key}:${since}`,
    state,
    ...condition,
    message,
    since: isoOrNumber(since),
    at: isoOrNumber(at),
  }
}
