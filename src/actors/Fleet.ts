import { createHash } from "node:crypto"
import { Clock, Duration, Effect, Metric, Option, Stream, SubscriptionRef } from "effect"
import { assignKeys } from "../domain/FleetAssignment.js"
import { isoOrNumber } from "../domain/Limits.js"
import { fleetRenewSchedule, fleetTiming } from "../domain/Schedules.js"
import { AppConfig, type FleetSettings } from "../layers/AppConfig.js"
import { type HeldLease, type LeaseKey, FleetLeases, type MemberRow } from "../layers/FleetLeases.js"
import * as Metrics from "../layers/Metrics.js"
import type { ExchangeId } from "../schema/Market.js"
import { Supervisor } from "./Supervisor.js"

/** What a candle write checks before it lands: the epoch of the lease this member holds on the candle's symbol. */
export interface Fence {
  readonly fleet: string
  readonly member: string
  /** Undefined when this member holds no lease on the symbol: its candles are not written (fenced). */
  readonly epochOf: (exchange: string, symbol: string) => number | undefined
}

const keyOf = (exchange: string, symbol: string) => `${exchange}:${symbol}`

const listed = (keys: ReadonlyArray<LeaseKey>) => keys.map((k) => `${k.exchange} ${k.symbol}`).join(", ")

/**
 * This daemon's part in a fleet (FLEET). Alone, or in a redundant fleet, it owns every configured symbol. In a
 * shared fleet it renews its membership and its leases in PostgreSQL every renewal, computes which symbols are its
 * share of the live members (`assignKeys`), takes their leases when they are free or lapsed, and gives up those
 * that are now another member's once its feed has stopped them and the store has their last candles (`handedOver`).
 * The feeds follow `owned`. When it cannot renew, it stops its symbols before their leases lapse.
 */
export class Fleet extends Effect.Service<Fleet>()("ingestd/Fleet", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const settings = Option.getOrUndefined(config.fleet)
    const shared = settings?.mode === "shared"
    const refs = new Map<ExchangeId, SubscriptionRef.SubscriptionRef<ReadonlyArray<string>>>()
    for (const feed of config.feeds) refs.set(feed.exchange, yield* SubscriptionRef.make(shared ? [] : feed.symbols))
    const base = {
      /** The symbols of `exchange` this daemon ingests now, and each change of them. */
      owned: (exchange: ExchangeId): Stream.Stream<ReadonlyArray<string>> => refs.get(exchange)!.changes,
      /** Whether any of `symbols` is being given to another member: the store must have their last candles first. */
      handingOver: (_exchange: ExchangeId, _symbols: ReadonlyArray<string>) => false,
      handedOver: (_exchange: ExchangeId, _symbols: ReadonlyArray<string>) => Effect.void,
      fence: undefined as Fence | undefined,
      status: Effect.succeed(null as FleetStatus | null),
    }
    if (settings === undefined) return base
    const leases = yield* FleetLeases
    const supervisor = yield* Supervisor
    const run = yield* membership(settings, leases, config.feeds, refs)
    yield* Effect.addFinalizer(() =>
      leases.leave(settings.name, settings.member).pipe(
        Effect.timeout(config.shutdownTimeout),
        Effect.tap(() => Effect.logInfo(`fleet ${settings.name}: left; every lease of ${settings.member} released`)),
        Effect.catchAll((e) =>
          Effect.logWarning(
            `fleet ${settings.name}: could not release the leases of ${settings.member} (${String(e)}); they lapse by themselves`,
          ),
        ),
      ),
    )
    yield* supervisor.spawn("fleet", run.loop)
    return { ...base, ...run.api }
  }),
}) {}

export interface FleetStatus {
  readonly name: string
  readonly member: string
  readonly mode: "shared" | "redundant"
  readonly takeoverAfterMs: number
  readonly lastRenewal: string | null
  readonly members: ReadonlyArray<{ readonly member: string; readonly self: boolean; readonly startedAt: string }>
  /** Per exchange and symbol, who holds its lease, under which epoch, and how old its last renewal is. */
  readonly leases: ReadonlyArray<{
    readonly exchange: string
    readonly symbol: string
    readonly owner: string
    readonly epoch: number
    readonly renewedAgoMs: number
    readonly lapsed: boolean
    readonly takeovers: number
  }>
  readonly error?: string
}

const membership = (
  settings: FleetSettings,
  leases: FleetLeases,
  feeds: ReadonlyArray<{ readonly exchange: ExchangeId; readonly symbols: ReadonlyArray<string> }>,
  refs: ReadonlyMap<ExchangeId, SubscriptionRef.SubscriptionRef<ReadonlyArray<string>>>,
) =>
  Effect.gen(function* () {
    const { name: fleet, member, mode } = settings
    const takeoverMs = Duration.toMillis(settings.takeoverAfter)
    const { ttlMs, renewMs } = fleetTiming(takeoverMs)
    const allKeys: ReadonlyArray<LeaseKey> = feeds.flatMap((f) =>
      f.symbols.map((symbol) => ({ exchange: f.exchange, symbol })),
    )
    const held = new Map<string, HeldLease>()
    const releasing = new Set<string>()
    const published = new Map<ExchangeId, string>()
    let members: ReadonlyArray<MemberRow> = []
    let renewedAt: number | undefined
    let validUntil = 0
    let unreachable: string | undefined
    let first = true
    const digest = createHash("sha256")
      .update(
        allKeys
          .map((k) => keyOf(k.exchange, k.symbol))
          .sort()
          .join("\n"),
      )
      .digest("hex")
      .slice(0, 16)
    let disagreeing = ""

    const publish = Effect.forEach(
      feeds,
      (feed) => {
        const mine = feed.symbols.filter(
          (s) => held.has(keyOf(feed.exchange, s)) && !releasing.has(keyOf(feed.exchange, s)),
        )
        const signature = mine.join("\u0000")
        return Metric.set(Metric.tagged(Metrics.fleetSymbolsOwned, "exchange", feed.exchange), mine.length).pipe(
          Effect.zipRight(
            published.get(feed.exchange) === signature
              ? Effect.void
              : Effect.zipRight(
                  Effect.sync(() => published.set(feed.exchange, signature)),
                  SubscriptionRef.set(refs.get(feed.exchange)!, mine),
                ),
          ),
        )
      },
      { discard: true },
    )

    const lose = (keys: ReadonlyArray<string>, why: string) =>
      Effect.gen(function* () {
        if (keys.length === 0) return
        const lost = keys.map((k) => held.get(k)!)
        for (const k of keys) {
          held.delete(k)
          releasing.delete(k)
        }
        for (const l of lost) yield* Metric.increment(Metric.tagged(Metrics.fleetLeasesLost, "exchange", l.exchange))
        yield* Effect.logWarning(`fleet ${fleet}: stopping ${lost.length} symbol(s) (${listed(lost)}): ${why}`)
      })

    const renewal = Effect.gen(function* () {
      const startedAt = yield* Clock.currentTimeMillis
      const round = yield* Effect.all([
        leases.heartbeat(fleet, member, ttlMs, digest),
        leases.renew(fleet, member, ttlMs),
      ]).pipe(Effect.timeout(ttlMs / 3), Effect.either)
      if (round._tag === "Left") {
        const reason = round.left._tag === "TimeoutException" ? `no answer within ${ttlMs / 3} ms` : round.left.message
        if (unreachable === undefined)
          yield* Effect.logWarning(
            held.size === 0
              ? `fleet ${fleet}: could not renew the membership of ${member} in PostgreSQL (${reason}); retrying every ${renewMs} ms`
              : `fleet ${fleet}: could not renew the leases of ${member} in PostgreSQL (${reason}); ${held.size} symbol(s) go on until ${isoOrNumber(validUntil - renewMs)}, then stop so that another member can take them over`,
          )
        unreachable = reason
        const now = yield* Clock.currentTimeMillis
        if (now >= validUntil - renewMs)
          yield* lose(
            [...held.keys()],
            `their leases were not renewed for ${now - (renewedAt ?? now)} ms (fencing: another member may take them over now)`,
          )
        yield* Metric.set(Metrics.fleetLeaseAge, renewedAt === undefined ? 0 : (now - renewedAt) / 1_000)
        return yield* publish
      }
      if (unreachable !== undefined) yield* Effect.logInfo(`fleet ${fleet}: PostgreSQL reachable again; leases renewed`)
      unreachable = undefined
      const [live, renewed] = round.right
      renewedAt = startedAt
      validUntil = startedAt + ttlMs
      members = live
      yield* Metric.set(Metrics.fleetMembers, live.length)
      yield* Metric.set(Metrics.fleetLeaseAge, 0)
      // Members split what they are configured with: with different symbol lists their shares do not add up, and
      // symbols can go unowned or be run twice over (the leases still give each one writer at a time).
      const others = live.filter((m) => m.symbolsDigest !== digest).map((m) => m.member)
      if (others.join() !== disagreeing) {
        disagreeing = others.join()
        if (others.length > 0)
          yield* Effect.logWarning(
            `fleet ${fleet}: member(s) ${others.join(", ")} are configured with other exchanges or symbols than ${member}; give every member the same FEEDS and <EXCHANGE>_SYMBOLS, or some symbols go unowned`,
          )
        else yield* Effect.logInfo(`fleet ${fleet}: every member is configured with the same symbols again`)
      }
      if (mode === "redundant") return
      const renewedByKey = new Map(renewed.map((l) => [keyOf(l.exchange, l.symbol), l]))
      yield* lose(
        [...held.keys()].filter((k) => !renewedByKey.has(k)),
        "another member holds their leases now",
      )
      // The first renewal only announces this member, so that members started together see each other before
      // anyone takes symbols.
      if (first) {
        first = false
        return yield* leases.release(fleet, member, renewed)
      }
      const owners = assignKeys(
        live.map((m) => m.member),
        allKeys.map((k) => keyOf(k.exchange, k.symbol)),
      )
      const mine = (k: string) => owners.get(k) === member
      // A lease renewed that this member does not run (given up while PostgreSQL was out of reach): run it again
      // when it is still this member's share, else let it go now.
      const stray: Array<HeldLease> = []
      for (const [k, l] of renewedByKey)
        if (!held.has(k)) {
          if (mine(k)) held.set(k, l)
          else stray.push(l)
        }
      yield* leases.release(fleet, member, stray)
      const wanted = allKeys.filter((k) => mine(keyOf(k.exchange, k.symbol)) && !held.has(keyOf(k.exchange, k.symbol)))
      const acquired = yield* leases.acquire(fleet, member, ttlMs, wanted)
      for (const l of acquired) held.set(keyOf(l.exchange, l.symbol), l)
      const taken = acquired.filter((l) => l.from !== undefined)
      for (const l of taken) yield* Metric.increment(Metric.tagged(Metrics.fleetTakeovers, "exchange", l.exchange))
      if (acquired.length > 0)
        yield* Effect.logInfo(
          `fleet ${fleet}: ${member} took ${acquired.length} symbol(s) of ${live.length} member(s)' ${allKeys.length}: ${listed(acquired)}${taken.length === 0 ? "" : `; ${taken.length} from ${[...new Set(taken.map((l) => l.from))].join(", ")}, whose leases had lapsed`}`,
        )
      const leaving: Array<HeldLease> = []
      for (const [k, l] of held)
        if (mine(k)) releasing.delete(k)
        else if (!releasing.has(k)) {
          releasing.add(k)
          leaving.push(l)
        }
      if (leaving.length > 0)
        yield* Effect.logInfo(
          `fleet ${fleet}: handing ${leaving.length} symbol(s) to other members: ${listed(leaving)}`,
        )
      yield* publish
    }).pipe(
      Effect.catchAll((e) => Effect.logWarning(`fleet ${fleet}: lease round failed (${e.message}); trying again`)),
    )

    const loop = Effect.zipRight(
      Effect.sleep(Duration.millis(renewMs)),
      Effect.repeat(renewal, fleetRenewSchedule(takeoverMs)),
    )
    // The first round runs before the feeds start, so they start with this member's share where it is settled.
    yield* renewal

    const handingOver = (exchange: ExchangeId, symbols: ReadonlyArray<string>) =>
      symbols.some((s) => releasing.has(keyOf(exchange, s)))
    const handedOver = (exchange: ExchangeId, symbols: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        const done = symbols.map((s) => keyOf(exchange, s)).filter((k) => releasing.has(k))
        const given = done.map((k) => held.get(k)!)
        for (const k of done) {
          held.delete(k)
          releasing.delete(k)
        }
        // A release that fails leaves the lease renewed with the others; the next round lets it go (stray).
        yield* leases.release(fleet, member, given).pipe(
          Effect.tap(() =>
            given.length === 0 ? Effect.void : Effect.logInfo(`fleet ${fleet}: released ${listed(given)}`),
          ),
          Effect.catchAll((e) =>
            Effect.logWarning(`fleet ${fleet}: could not release ${listed(given)} yet (${e.message})`),
          ),
        )
      })

    const status = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const rows = yield* Effect.either(leases.leases(fleet))
      return {
        name: fleet,
        member,
        mode,
        takeoverAfterMs: takeoverMs,
        lastRenewal: renewedAt === undefined ? null : isoOrNumber(renewedAt),
        members: members.map((m) => ({
          member: m.member,
          self: m.member === member,
          startedAt: isoOrNumber(m.startedAt),
        })),
        leases:
          rows._tag === "Left"
            ? []
            : rows.right.map((r) => ({
                exchange: r.exchange,
                symbol: r.symbol,
                owner: r.owner,
                epoch: r.epoch,
                renewedAgoMs: Math.max(0, now - r.renewedAt),
                lapsed: r.lapsed,
                takeovers: r.takeovers,
              })),
        ...(rows._tag === "Left" ? { error: `fleet_leases unreadable: ${rows.left.message}` } : {}),
      } satisfies FleetStatus
    })

    const fence: Fence | undefined =
      mode === "shared"
        ? { fleet, member, epochOf: (exchange, symbol) => held.get(keyOf(exchange, symbol))?.epoch }
        : undefined
    return { loop, api: { handingOver, handedOver, fence, status } }
  })
