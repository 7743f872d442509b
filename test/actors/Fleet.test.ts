import { it } from "@effect/vitest"
import { Context, Duration, Effect, Layer, Logger, Option, Redacted, Stream } from "effect"
import { afterAll, beforeAll, describe, expect } from "vitest"
import { Fleet } from "../../src/actors/Fleet.js"
import { Supervisor } from "../../src/actors/Supervisor.js"
import { assignKeys } from "../../src/domain/FleetAssignment.js"
import { FleetLeases } from "../../src/layers/FleetLeases.js"
import { Health } from "../../src/layers/Health.js"
import { PostgresLive } from "../../src/layers/Postgres.js"
import { TestConfig, testFeed } from "../support/config.js"
import { until } from "../support/daemon.js"
import { query, scratchDatabase } from "../support/postgres.js"

const SYMBOLS = Array.from({ length: 10 }, (_, i) => `T${i}/USDT`)

describe("a fleet member against the real PostgreSQL (FLEET_TAKEOVER_MS=2000: leases of 1.2 s, renewed every 0.3 s)", () => {
  const db = scratchDatabase("ingest_fleet_member")
  beforeAll(() => db.start())
  afterAll(() => db.stop())

  it.scopedLive(
    "announces itself first, then takes its share beside a peer, waits out the peer's live lease, takes it over with a new epoch once lapsed, and warns of a peer configured with other symbols",
    () =>
      Effect.gen(function* () {
        const url = yield* Effect.promise(() => db.create())
        const config = TestConfig({
          databaseUrl: Option.some(Redacted.make(url)),
          feeds: [testFeed("binance", SYMBOLS, "ws://127.0.0.1:1")],
          fleet: Option.some({ name: "t", member: "me", mode: "shared", takeoverAfter: Duration.millis(2_000) }),
        })
        const lines: Array<string> = []
        const base = Layer.mergeAll(Supervisor.Default, FleetLeases.Default).pipe(
          Layer.provideMerge(Health.Default),
          Layer.provideMerge(PostgresLive),
          Layer.provideMerge(config),
        )
        yield* Layer.build(PostgresLive.pipe(Layer.provide(config)))
        const mine = SYMBOLS.filter(
          (s) =>
            assignKeys(
              ["me", "peer"],
              SYMBOLS.map((x) => `binance:${x}`),
            ).get(`binance:${s}`) === "me",
        )
        const contested = mine[0]!
        // A peer alive for a minute, configured otherwise, holding a lease on one of this member's share.
        yield* Effect.promise(() =>
          query(
            url,
            `INSERT INTO fleet_members (fleet, member, symbols_digest, expires_at) VALUES ('t', 'peer', 'other', now() + interval '1 minute');
             INSERT INTO fleet_leases (fleet, exchange, symbol, owner, epoch, expires_at) VALUES ('t', 'binance', '${contested}', 'peer', 3, now() + interval '1 minute')`,
          ),
        )
        const context = yield* Layer.build(
          Fleet.Default.pipe(
            Layer.provideMerge(base),
            Layer.provide(
              Logger.replace(
                Logger.defaultLogger,
                Logger.make((o) => void lines.push(String(o.message))),
              ),
            ),
          ),
        )
        const fleet = Context.get(context, Fleet)
        const owned = () =>
          Effect.runPromise(Stream.runHead(fleet.owned("binance")).pipe(Effect.map(Option.getOrThrow)))

        // The first round only announces: nothing is taken before the members have seen each other.
        expect(yield* Effect.promise(owned)).toEqual([])
        yield* Effect.promise(() =>
          until("the share but the contested symbol", async () => (await owned()).length === mine.length - 1, 10_000),
        )
        expect(yield* Effect.promise(owned)).toEqual(mine.filter((s) => s !== contested))
        expect(fleet.fence!.epochOf("binance", contested)).toBeUndefined()
        expect(fleet.fence!.epochOf("binance", mine[1]!)).toBe(1)
        expect(
          lines.some((l) => /member\(s\) peer are configured with other exchanges or symbols than me/.test(l)),
        ).toBe(true)

        // The peer's lease lapses (it died): taken over at the next renewal, under the next epoch.
        yield* Effect.promise(() =>
          query(url, `UPDATE fleet_leases SET expires_at = now() - interval '1 second' WHERE symbol = '${contested}'`),
        )
        yield* Effect.promise(() =>
          until("the whole share", async () => (await owned()).length === mine.length, 10_000),
        )
        expect(yield* Effect.promise(owned)).toEqual(mine)
        expect(fleet.fence!.epochOf("binance", contested)).toBe(4)
        const [row] = yield* Effect.promise(() =>
          query<{ owner: string; takeovers: number }>(
            url,
            `SELECT owner, takeovers FROM fleet_leases WHERE symbol = '${contested}'`,
          ),
        )
        expect(row).toEqual({ owner: "me", takeovers: 1 })
        expect(lines.some((l) => l.includes(`1 from peer, whose leases had lapsed`))).toBe(true)
        const status = yield* fleet.status
        expect(status!.members.map((m) => m.member)).toEqual(["me", "peer"])
        expect(
          status!.leases
            .filter((l) => l.owner === "me")
            .map((l) => l.symbol)
            .sort(),
        ).toEqual([...mine].sort())
      }),
    30_000,
  )
})
