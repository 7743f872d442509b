import { describe, expect, it } from "vitest"
import { assignKeys } from "../../src/domain/FleetAssignment.js"

const keys = Array.from({ length: 30 }, (_, i) => `binance:S${i}/USDT`)
const loads = (owners: ReadonlyMap<string, string>) => {
  const by = new Map<string, number>()
  for (const m of owners.values()) by.set(m, (by.get(m) ?? 0) + 1)
  return [...by.values()]
}

describe("assignKeys: which fleet member owns which symbol", () => {
  it("gives every key one owner, each member its share within one, the same answer in any order", () => {
    for (const members of [
      ["a"],
      ["a", "b"],
      ["m1", "m2", "m3"],
      ["m1", "m2", "m3", "m4"],
      ["x", "y", "z", "w", "v", "u", "t"],
    ]) {
      const owners = assignKeys(members, keys)
      expect(owners.size).toBe(keys.length)
      const l = loads(owners)
      expect(Math.max(...l) - Math.min(...l), members.join()).toBeLessThanOrEqual(1)
      expect(l.length).toBe(Math.min(members.length, keys.length))
      expect(assignKeys([...members].reverse(), [...keys].reverse())).toEqual(owners)
    }
    expect(assignKeys([], keys).size).toBe(0)
  })

  it("moves about the newcomer's share when a member joins, and only the leaver's keys when one leaves", () => {
    const three = assignKeys(["m1", "m2", "m3"], keys)
    const four = assignKeys(["m1", "m2", "m3", "m4"], keys)
    const moved = keys.filter((k) => three.get(k) !== four.get(k))
    // The newcomer's 7 or 8, and a few more where bounded load spills over; nowhere near a reshuffle.
    expect(moved.length).toBeGreaterThanOrEqual(7)
    expect(moved.length).toBeLessThanOrEqual(12)
    const two = assignKeys(["m1", "m3"], keys)
    const stayed = keys.filter((k) => three.get(k) !== "m2")
    expect(stayed.filter((k) => two.get(k) !== three.get(k)).length).toBeLessThanOrEqual(3)
  })
})
