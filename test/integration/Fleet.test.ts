import { rmSync } from "node:fs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { expectCandlesMatch, expectedFinals, sentOf, untilStoredComplete } from "../support/candles.js"
import { binanceReplayDaemon, metric, type ReplayDaemon, until } from "../support/daemon.js"
import { query, scratchDatabase, storedCandles } from "../support/postgres.js"
import { startTcpProxy } from "../support/tcpProxy.js"

const GRACE_MS = 1_000
const TAKEOVER_MS = 15_000
const SYMBOLS = Array.from({ length: 30 }, (_, i) => `F${i}/USDT`)

interface Member extends ReplayDaemon {
  readonly name: string
}

/** A member of fleet `fleet` on `server`'s Binance, writing to `url`. */
const member = async (
  server: ReplayServer,
  url: string,
  fleet: string,
  name: string,
  symbols: ReadonlyArray<string> = SYMBOLS,
): Promise<Member> => ({
  name,
  ...(await binanceReplayDaemon(server, url, symbols, { FLEET: fleet, FLEET_MEMBER: name })),
})

interface StatusBody {
  readonly feeds: ReadonlyArray<{ readonly symbols: ReadonlyArray<{ readonly symbol: string }> }>
  readonly fleet: {
    readonly members: ReadonlyArray<{ readonly member: string }>
    readonly leases: ReadonlyArray<{ readonly symbol: string; readonly owner: string; readonly lapsed: boolean }>
  } | null
}

/** The symbols a member ingests now, by its own /api/status; undefined when it does not answer. */
const running = async (m: Member): Promise<ReadonlySet<string> | undefined> => {
  try {
    const body = (await (await fetch(`http://127.0.0.1:${m.httpPort}/api/status`)).json()) as StatusBody
    return new Set(body.feeds.flatMap((f) => f.symbols.map((s) => s.symbol)))
  } catch {
    return undefined
  }
}

type Lease = { symbol: string; owner: string; lapsed: boolean; acquired_ms: string }
const leases = (url: string, fleet: string) =>
  query<Lease>(
    url,
    `SELECT symbol, owner, expires_at <= now() AS lapsed, (extract(epoch FROM acquired_at) * 1000)::bigint::text AS acquired_ms
     FROM fleet_leases WHERE fleet = '${fleet}' AND exchange = 'binance'`,
  )

/** Live owners: every symbol's unlapsed lease, by owner; none before the first member created the table. */
const owners = async (url: string, fleet: string) => {
  const by = new Map<string, Array<string>>()
  const rows = await leases(url, fleet).catch((e: Error) => {
    if (/fleet_leases" does not exist/.test(e.message)) return []
    throw e
  })
  for (const l of rows) if (!l.lapsed) by.set(l.owner, [...(by.get(l.owner) ?? []), l.symbol])
  return by
}

/**
 * Samples every live member's running symbols twice a second and records a symbol two members ran in two samples in
 * a row (one sample can catch a handover between reading one member and the next).
 */
const watchOverlaps = (members: () => ReadonlyArray<Member>) => {
  const overlaps: Array<string> = []
  let previous = new Set<string>()
  let stopped = false
  const done = (async () => {
    while (!stopped) {
      const seen = new Map<string, string>()
      const now = new Set<string>()
      for (const m of members()) {
        const symbols = await running(m)
        for (const s of symbols ?? []) {
          const other = seen.get(s)
          if (other !== undefined) now.add(`${s}: ${other} and ${m.name}`)
          seen.set(s, m.name)
        }
      }
      for (const o of now) if (previous.has(o)) overlaps.push(o)
      previous = now
      await new Promise((r) => setTimeout(r, 500))
    }
  })()
  return {
    overlaps,
    stop: async () => {
      stopped = true
      await done
    },
  }
}

describe("a fleet: daemons share an exchange's symbols through leases in PostgreSQL", () => {
  const db = scratchDatabase("ingest_fleet")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it("three members split 30 symbols; a kill -9 is taken over within FLEET_TAKEOVER_MS, a fourth member takes its share, and every candle equals the reference", async () => {
    const url = await db.create()
    const fleet = `f${Date.now()}`
    // Six minutes of exchange time at four times its pace: about 90 s of wall time.
    const spec = {
      symbols: SYMBOLS,
      rate: 60,
      count: 21_600,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 8 * 60_000,
      seed: 41,
    }
    const sent = sentOf("binance", spec)
    const server = await ReplayServer.start()
    server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 4 } })
    const members: Array<Member> = []
    const watch = watchOverlaps(() => members)
    try {
      for (const name of ["m1", "m2", "m3"]) members.push(await member(server, url, fleet, name))
      await until(
        "all 30 symbols owned, about ten each",
        async () => {
          const by = await owners(url, fleet)
          return [...by.values()].flat().length === 30 && [...by.values()].every((s) => s.length === 10)
        },
        60_000,
      )
      await until("a quarter of the tape", () => server.venue("binance").sent > spec.count / 4, 60_000)

      const victim = members.find((m) => m.name === "m2")!
      const orphaned = (await owners(url, fleet)).get("m2")!
      victim.daemon.process.kill("SIGKILL")
      const killedAt = Date.now()
      members.splice(members.indexOf(victim), 1)
      await until(
        "m2's symbols owned by the others",
        async () => {
          const by = await owners(url, fleet)
          return orphaned.every((s) => by.get("m1")?.includes(s) === true || by.get("m3")?.includes(s) === true)
        },
        TAKEOVER_MS + 5_000,
      )
      const tookMs = Date.now() - killedAt
      console.info(`fleet: m2's ${orphaned.length} symbols owned again ${tookMs} ms after its kill -9`)
      expect(tookMs).toBeLessThanOrEqual(TAKEOVER_MS)
      expect(
        (await metric(members[0]!.httpPort, "fleet_takeovers_total", 'exchange="binance"')) +
          (await metric(members[1]!.httpPort, "fleet_takeovers_total", 'exchange="binance"')),
      ).toBe(orphaned.length)

      await until("half of the tape", () => server.venue("binance").sent > spec.count / 2, 60_000)
      const joiner = await member(server, url, fleet, "m4")
      members.push(joiner)
      await until(
        "m4 holds about its share",
        async () => {
          const by = await owners(url, fleet)
          const mine = by.get("m4") ?? []
          return [...by.values()].flat().length === 30 && mine.length === 10
        },
        30_000,
      )
      // The members that handed symbols over are ready: the aggregators they stopped are gone, not "stopped".
      for (const m of members)
        await until(
          `${m.name} ready`,
          async () => (await fetch(`http://127.0.0.1:${m.httpPort}/readyz`)).status === 200,
          20_000,
        )
      const status = (await (await fetch(`http://127.0.0.1:${joiner.httpPort}/api/status`)).json()) as StatusBody
      expect(status.fleet!.members.map((m) => m.member).sort()).toEqual(["m1", "m3", "m4"])
      expect(status.fleet!.leases.filter((l) => l.owner === "m4" && !l.lapsed).length).toBeGreaterThanOrEqual(9)
      expect(await metric(joiner.httpPort, "fleet_symbols_owned", 'exchange="binance"')).toBeGreaterThanOrEqual(9)

      await until("the tape played out", () => server.venue("binance").done, 120_000)
      await untilStoredComplete(url, expectedFinals(sent, GRACE_MS))
      await watch.stop()
      expect(watch.overlaps).toEqual([])
      for (const m of members) m.daemon.process.kill("SIGTERM")
      for (const m of members) expect(await m.daemon.exit).toBe(0)
      const stored = await storedCandles(url)
      expect(stored.filter((c) => !c.complete)).toEqual([])
      expectCandlesMatch(stored, sent, GRACE_MS, { coldStartUnfilled: false, openMayBeMissing: true })
    } finally {
      await watch.stop()
      for (const m of [...members]) {
        m.daemon.process.kill("SIGKILL")
        rmSync(m.dataDir, { recursive: true, force: true })
      }
      await server.close()
    }
  }, 300_000)

  it("a member cut off from PostgreSQL stops its symbols before their leases lapse, the takeover writes them, and candles are exact", async () => {
    const url = await db.create()
    const fleet = `p${Date.now()}`
    const spec = {
      symbols: SYMBOLS.slice(0, 10),
      rate: 30,
      count: 9_000,
      start: Math.floor(Date.now() / 60_000) * 60_000 - 7 * 60_000,
      seed: 43,
    }
    const sent = sentOf("binance", spec)
    const server = await ReplayServer.start()
    server.play("binance", syntheticTape(spec), { pace: { mode: "paced", speed: 4 } })
    const target = new URL(url)
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    const viaProxy = new URL(url)
    viaProxy.port = String(proxy.port)
    const members: Array<Member> = []
    try {
      const cut = await member(server, viaProxy.toString(), fleet, "cut", spec.symbols)
      members.push(cut, await member(server, url, fleet, "kept", spec.symbols))
      await until(
        "both hold leases",
        async () => {
          const by = await owners(url, fleet)
          return (by.get("cut")?.length ?? 0) > 0 && [...by.values()].flat().length === 10
        },
        60_000,
      )
      await until("a third of the tape", () => server.venue("binance").sent > spec.count / 3, 60_000)
      const orphaned = (await owners(url, fleet)).get("cut")!
      proxy.cut()
      await until(
        "the kept member owns every symbol",
        async () => (await owners(url, fleet)).get("kept")?.length === 10,
        TAKEOVER_MS + 5_000,
      )
      // Fencing: the cut-off member said it stopped its symbols before the first of them was taken over.
      const stoppedLine = cut.daemon
        .output()
        .split("\n")
        .find((l) => /stopping \d+ symbol\(s\).*fencing/.test(l))
      expect(stoppedLine, cut.daemon.output()).toBeDefined()
      const stoppedAt = Date.parse((JSON.parse(stoppedLine!) as { time: string }).time)
      const taken = (await leases(url, fleet)).filter((l) => orphaned.includes(l.symbol))
      const firstTakeover = Math.min(...taken.map((l) => Number(l.acquired_ms)))
      expect(stoppedAt).toBeLessThan(firstTakeover)

      // Back in reach, its candles of the symbols it lost are refused, and it takes its share again.
      proxy.restore()
      await until(
        "the cut-off member holds leases again",
        async () => ((await owners(url, fleet)).get("cut")?.length ?? 0) >= 4,
        30_000,
      )
      await until("the tape played out", () => server.venue("binance").done, 120_000)
      await untilStoredComplete(url, expectedFinals(sent, GRACE_MS))
      for (const m of members) m.daemon.process.kill("SIGTERM")
      for (const m of members) expect(await m.daemon.exit).toBe(0)
      expect(cut.daemon.output()).toMatch(
        /candle\(s\) not written: cut no longer holds their symbols' leases \(fencing\)/,
      )
      const stored = await storedCandles(url)
      expect(stored.filter((c) => !c.complete)).toEqual([])
      expectCandlesMatch(stored, sent, GRACE_MS, { coldStartUnfilled: false, openMayBeMissing: true })
    } finally {
      for (const m of members) {
        m.daemon.process.kill("SIGKILL")
        rmSync(m.dataDir, { recursive: true, force: true })
      }
      await proxy.close()
      await server.close()
    }
  }, 300_000)
})
