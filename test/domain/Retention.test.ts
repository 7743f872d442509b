import { describe, expect, it } from "vitest"
import { parseRetention, retentionOf, SEED_RETENTION } from "../../src/domain/Retention.js"

const DAY = 86_400_000

describe("retention per timeframe", () => {
  it("the seed's table, and the timeframes it does not list follow the next shorter one", () => {
    const table = parseRetention(SEED_RETENTION)
    if (typeof table === "string") throw new Error(table)
    expect(retentionOf(table, "1m")).toBe(180 * DAY)
    expect(retentionOf(table, "3m")).toBe(180 * DAY)
    expect(retentionOf(table, "15m")).toBe(730 * DAY)
    expect(retentionOf(table, "4h")).toBe(1825 * DAY)
    expect(retentionOf(table, "1d")).toBeUndefined()
    expect(retentionOf(table, "12h")).toBe(1825 * DAY)
  })

  it("units, and what it refuses", () => {
    const table = parseRetention("5m=90m, 1h=2h,1d=1500ms")
    if (typeof table === "string") throw new Error(table)
    expect(retentionOf(table, "1m")).toBe(90 * 60_000)
    expect(retentionOf(table, "1h")).toBe(2 * 3_600_000)
    expect(retentionOf(table, "1d")).toBe(1_500)
    expect(parseRetention("1m=6months")).toMatch(/expected <timeframe>=<number>/)
    expect(parseRetention("2m=1d")).toMatch(/unknown timeframe 2m/)
    expect(parseRetention(" ")).toBe("no timeframe listed")
  })
})
