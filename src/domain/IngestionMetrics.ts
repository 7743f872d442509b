import type { SymbolStat } from "./SymbolStats.js"

/** One row of the seed's `ingestion_metrics`: the symbol as `<exchange>:<BASE/QUOTE>` (the table has no exchange). */
export interface IngestionMetric {
  readonly symbol: string
  readonly metricType: "throughput" | "latency_ms" | "error_rate"
  readonly value: number
}

/**
 * The seed's per-symbol ingestion metrics over each interval: throughput (trades a second), latency (the newest
 * trade's receive time minus its exchange time, ms) and error rate (trades lost in detected gaps, as a share of the
 * trades the exchange made: received plus missing).
 */
export class IngestionMeter {
  private readonly last = new Map<string, { readonly trades: number; readonly missing: number }>()

  constructor(
    private readonly exchange: string,
    private sampledAt: number,
  ) {}

  sample(stats: ReadonlyArray<SymbolStat>, now: number): Array<IngestionMetric> {
    const seconds = (now - this.sampledAt) / 1_000
    if (seconds <= 0) return []
    this.sampledAt = now
    const rows: Array<IngestionMetric> = []
    for (const s of stats) {
      const before = this.last.get(s.symbol) ?? { trades: 0, missing: 0 }
      this.last.set(s.symbol, { trades: s.trades, missing: s.missingTrades })
      const trades = s.trades - before.trades
      const missing = s.missingTrades - before.missing
      const symbol = `${this.exchange}:${s.symbol}`
      rows.push({ symbol, metricType: "throughput", value: trades / seconds })
      rows.push({ symbol, metricType: "error_rate", value: trades + missing === 0 ? 0 : missing / (trades + missing) })
      if (s.lastTradeAt !== undefined && s.lastExchangeTs !== undefined)
        rows.push({ symbol, metricType: "latency_ms", value: s.lastTradeAt - s.lastExchangeTs })
    }
    return rows
  }
}
