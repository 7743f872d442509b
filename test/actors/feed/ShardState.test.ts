import { describe, expect, it } from "vitest"
import { ShardState } from "../../../src/actors/feed/ShardState.js"

describe("ShardState", () => {
  it("asks for a catch-up only on a reconnect, from when the connection that was up went", () => {
    const s = new ShardState(0, 1_000)
    expect(s.lost(50)).toBe(false)
    expect(s.connected(100)).toBe(false)
    expect(s.lost(5_000)).toBe(true)
    expect(s.lost(6_000)).toBe(false)
    expect(s.lostAt).toBe(5_000)
    expect(s.connected(7_000)).toBe(true)
  })

  it("counts failed attempts in a row until a connection is up", () => {
    const s = new ShardState(0, 1_000)
    s.attemptFailed()
    s.attemptFailed()
    expect(s.failures).toBe(2)
    s.connected(10)
    expect(s.failures).toBe(0)
  })

  it("holds a batch that waited past the grace against the daemon, not the exchange", () => {
    const s = new ShardState(0, 1_000)
    s.blocked(1_000)
    expect(s.heldBack(1_999, 1_000)).toBe(false)
    expect(s.heldBack(2_000, 1_000)).toBe(true)
    s.blocked(undefined)
    expect(s.heldBack(9_000, 1_000)).toBe(false)
  })

  it("gives the connection after a stale one twice the silence, so an idle market is not a reconnect loop", () => {
    const s = new ShardState(0, 1_000)
    s.connected(0)
    expect(s.data.check(1_000)).toHaveLength(1)
    s.ended(true)
    s.connected(10_000)
    expect(s.data.check(11_500)).toEqual([])
    expect(s.data.check(12_000)).toHaveLength(1)
    s.ended(false)
    s.connected(20_000)
    expect(s.data.check(22_000)).toHaveLength(1)
  })
})
