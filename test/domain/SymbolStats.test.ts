import { describe, expect, it } from "vitest"
import { SymbolStats } from "../../src/domain/SymbolStats.js"

describe("SymbolStats: a symbol's status, written only through what happened", () => {
  it("follows a backfill from filling through a retried failure to done", () => {
    const stats = new SymbolStats(["BTC/USDT"], 0)
    stats.openGap("BTC/USDT", 1_000)
    stats.filling("BTC/USDT")
    stats.modeChanged("BTC/USDT", "backfill")
    stats.backfillFailed("BTC/USDT", "HTTP 503", true)
    expect(stats.of("BTC/USDT")).toMatchObject({ backfill: "retrying", backfillError: "HTTP 503", mode: "backfill" })
    stats.backfilled("BTC/USDT", 40)
    stats.backfilled("BTC/USDT", 2)
    stats.closeGaps("BTC/USDT", 1)
    expect(stats.of("BTC/USDT")).toMatchObject({
      backfill: "idle",
      backfillError: undefined,
      backfilledTrades: 42,
      unfilledGaps: 0,
      unfilledSince: undefined,
    })
  })

  it("counts reconciled minutes and keeps the newest mismatch", () => {
    const stats = new SymbolStats(["ETH/USDT"], 0)
    stats.reconciled("ETH/USDT", 120_000, [])
    stats.reconciled("ETH/USDT", 60_000, ["volume", "trades"])
    expect(stats.of("ETH/USDT")).toMatchObject({
      reconciled: 2,
      mismatched: 1,
      lastReconciledMinute: 120_000,
      lastMismatch: { minute: 60_000, fields: ["volume", "trades"] },
    })
  })

  it("ignores a symbol it does not follow", () => {
    const stats = new SymbolStats(["BTC/USDT"], 0)
    stats.reconciled("DOGE/USDT", 0, ["open"])
    stats.backfilled("DOGE/USDT", 1)
    expect(stats.of("DOGE/USDT")).toBeUndefined()
    expect(stats.all()).toHaveLength(1)
  })
})
