import { describe, expect, it } from "vitest"
import { evaluateRules, IncidentBook } from "../../src/domain/Incidents.js"
import { SymbolStats } from "../../src/domain/SymbolStats.js"

const THRESHOLDS = { symbolSilentMs: 300_000, allSilentMs: 120_000, gapUnfilledMs: 60_000 }

describe("data-quality rules and incidents", () => {
  it("opens each incident once and resolves it once: all symbols silent, a gap left unfilled until it is filled, a feed in backoff", () => {
    const stats = new SymbolStats(["BTC/USDT", "ETH/USDT"], 0)
    const book = new IncidentBook()
    const feeds = () => [{ exchange: "binance", startedAt: 0, symbols: stats.all() }]
    const raised: Array<string> = []
    const step = (now: number, components: Array<{ name: string; state: string; detail?: string }> = []) => {
      for (const n of book.update(now, evaluateRules(now, THRESHOLDS, feeds(), components)))
        raised.push(`${now} ${n.state} ${n.rule} ${n.severity} ${n.symbol ?? n.component ?? ""}`.trim())
    }
    stats.trade("BTC/USDT", 1_000, 1_000)
    stats.trade("ETH/USDT", 1_000, 1_000)
    step(120_999)
    step(121_000)
    step(150_000)
    stats.trade("BTC/USDT", 150_500, 150_500)
    step(151_000)
    stats.gap("ETH/USDT", 7, 152_000)
    stats.openGap("ETH/USDT", 152_000)
    step(152_000)
    step(211_999)
    step(212_000)
    step(212_500)
    stats.closeGaps("ETH/USDT", 1)
    step(212_900)
    step(213_000, [{ name: "feed:binance#2", state: "backoff", detail: "connect ECONNREFUSED" }])
    step(214_000, [{ name: "feed:binance#2", state: "backoff", detail: "connect ECONNREFUSED" }])
    step(215_000, [{ name: "feed:binance#2", state: "connected" }])
    stats.trade("BTC/USDT", 260_000, 260_000)
    step(301_000)
    expect(raised).toEqual([
      "121000 open all_silent error",
      "151000 resolved all_silent error",
      "212000 open trade_gap warning ETH/USDT",
      "212900 resolved trade_gap warning ETH/USDT",
      "213000 open feed_backoff warning feed:binance#2",
      "215000 resolved feed_backoff warning feed:binance#2",
      "301000 open symbol_silent warning ETH/USDT",
    ])
    expect(book.current().map((n) => n.id)).toEqual(["symbol_silent:binance:ETH/USDT:301000"])
  })

  it("counts a symbol that never traded as silent since the feed started", () => {
    const stats = new SymbolStats(["BTC/USDT"], 10_000)
    const conditions = evaluateRules(
      310_000,
      { ...THRESHOLDS, allSilentMs: 1e12 },
      [{ exchange: "okx", startedAt: 10_000, symbols: stats.all() }],
      [],
    )
    expect(conditions.map((c) => c.message)).toEqual(["okx BTC/USDT: no trade since start 300 s ago"])
  })

  it("averages the trade rate over about a minute", () => {
    const stats = new SymbolStats(["BTC/USDT"], 0)
    for (let s = 1; s <= 600; s++) {
      for (let i = 0; i < 10; i++) stats.trade("BTC/USDT", s * 1_000, s * 1_000)
      stats.sample(s * 1_000)
    }
    expect(stats.all()[0]!.ratePerSec).toBeCloseTo(10, 1)
    for (let s = 601; s <= 660; s++) stats.sample(s * 1_000)
    expect(stats.all()[0]!.ratePerSec).toBeLessThan(10 / Math.E + 0.1)
  })
})
