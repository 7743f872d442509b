import * as SqlClient from "@effect/sql/SqlClient"
import { Effect } from "effect"

/** A symbol of an exchange, as leases name it. */
export interface LeaseKey {
  readonly exchange: string
  readonly symbol: string
}

/** A lease this member holds: the epoch its candle writes carry (fencing). */
export interface HeldLease extends LeaseKey {
  readonly epoch: number
}

export interface LeaseRow extends HeldLease {
  readonly owner: string
  readonly acquiredAt: number
  readonly renewedAt: number
  readonly expiresAt: number
  readonly takeovers: number
  readonly lapsed: boolean
}

export interface MemberRow {
  readonly member: string
  /** A digest of the member's configured exchanges and symbols: members must agree on them to agree on shares. */
  readonly symbolsDigest: string
  readonly startedAt: number
  readonly renewedAt: number
}

const ms = (d: Date | string) => new Date(d).getTime()

/**
 * The fleet's tables (`fleet_members`, `fleet_leases`, migration 0006). Every expiry is compared with the
 * database's own `now()`, so members never compare their clocks with each other. Taking a lease locks its row, so
 * two members racing for one symbol serialise and exactly one wins.
 */
export class FleetLeases extends Effect.Service<FleetLeases>()("ingestd/FleetLeases", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    /** Renews this member's membership, and reads the members alive now (itself included). */
    const heartbeat = (fleet: string, member: string, ttlMs: number, symbolsDigest: string) =>
      Effect.zipRight(
        sql`
          INSERT INTO fleet_members (fleet, member, symbols_digest, expires_at)
          VALUES (${fleet}, ${member}, ${symbolsDigest}, now() + ${ttlMs} * interval '1 millisecond')
          ON CONFLICT (fleet, member) DO UPDATE SET renewed_at = now(), expires_at = EXCLUDED.expires_at,
            symbols_digest = EXCLUDED.symbols_digest`,
        sql<{ member: string; symbols_digest: string; started_at: Date | string; renewed_at: Date | string }>`
          SELECT member, symbols_digest, started_at, renewed_at FROM fleet_members
          WHERE fleet = ${fleet} AND expires_at > now() ORDER BY member`,
      ).pipe(
        Effect.map((rows) =>
          rows.map((r): MemberRow => ({
            member: r.member,
            symbolsDigest: r.symbols_digest,
            startedAt: ms(r.started_at),
            renewedAt: ms(r.renewed_at),
          })),
        ),
      )

    /**
     * Extends every lease this member holds, lapsed or not: a lapsed lease nobody took still has this member's
     * epoch, so nobody else wrote under it. Returns what it holds; anything missing was taken by another member.
     */
    const renew = (fleet: string, member: string, ttlMs: number) =>
      sql<{ exchange: string; symbol: string; epoch: string }>`
        UPDATE fleet_leases SET renewed_at = now(), expires_at = now() + ${ttlMs} * interval '1 millisecond'
        WHERE fleet = ${fleet} AND owner = ${member}
        RETURNING exchange, symbol, epoch`.pipe(
        Effect.map((rows) =>
          rows.map((r): HeldLease => ({ exchange: r.exchange, symbol: r.symbol, epoch: Number(r.epoch) })),
        ),
      )

    /**
     * Takes the leases among `keys` that nobody holds or whose holder let them lapse, each with a new epoch, and
     * says whom each was taken from.
     */
    const acquire = (fleet: string, member: string, ttlMs: number, keys: ReadonlyArray<LeaseKey>) =>
      keys.length === 0
        ? Effect.succeed([] as ReadonlyArray<HeldLease & { readonly from: string | undefined }>)
        : sql.withTransaction(
            Effect.gen(function* () {
              const current = yield* sql<{ exchange: string; symbol: string; owner: string; lapsed: boolean }>`
                SELECT l.exchange, l.symbol, l.owner, l.expires_at <= now() AS lapsed
                FROM fleet_leases l
                JOIN unnest(${keys.map((k) => k.exchange)}::text[], ${keys.map((k) => k.symbol)}::text[]) AS u(e, s)
                  ON l.exchange = u.e AND l.symbol = u.s
                WHERE l.fleet = ${fleet}
                FOR UPDATE OF l`
              const held = new Map(current.map((r) => [`${r.exchange}\u0000${r.symbol}`, r]))
              const free = keys.filter((k) => held.get(`${k.exchange}\u0000${k.symbol}`)?.lapsed !== false)
              if (free.length === 0) return []
              const rows = yield* sql<{ exchange: string; symbol: string; epoch: string }>`
                INSERT INTO fleet_leases AS l (fleet, exchange, symbol, owner, epoch, expires_at)
                SELECT ${fleet}, e, s, ${member}, 1, now() + ${ttlMs} * interval '1 millisecond'
                FROM unnest(${free.map((k) => k.exchange)}::text[], ${free.map((k) => k.symbol)}::text[]) AS u(e, s)
                ON CONFLICT (fleet, exchange, symbol) DO UPDATE SET owner = EXCLUDED.owner, epoch = l.epoch + 1,
                  acquired_at = now(), renewed_at = now(), expires_at = EXCLUDED.expires_at,
                  takeovers = l.takeovers + (l.owner NOT IN (EXCLUDED.owner, ''))::integer
                WHERE l.expires_at <= now()
                RETURNING exchange, symbol, epoch`
              return rows.map((r) => {
                const before = held.get(`${r.exchange}\u0000${r.symbol}`)?.owner
                return {
                  exchange: r.exchange,
                  symbol: r.symbol,
                  epoch: Number(r.epoch),
                  from: before === undefined || before === member || before === "" ? undefined : before,
                }
              })
            }),
          )

    /**
     * Gives leases up: they lapse now, with no owner, so that the members whose share they are take them at their
     * next renewal, and the hand-over is not counted as a takeover.
     */
    const release = (fleet: string, member: string, keys: ReadonlyArray<LeaseKey>) =>
      keys.length === 0
        ? Effect.void
        : sql`
            UPDATE fleet_leases l SET owner = '', expires_at = now() - interval '1 millisecond'
            FROM unnest(${keys.map((k) => k.exchange)}::text[], ${keys.map((k) => k.symbol)}::text[]) AS u(e, s)
            WHERE l.fleet = ${fleet} AND l.owner = ${member} AND l.exchange = u.e AND l.symbol = u.s`.pipe(
            Effect.asVoid,
          )

    /** A member leaving: its leases lapse and it is no longer counted, so the others rebalance at once. */
    const leave = (fleet: string, member: string) =>
      Effect.zipRight(
        sql`UPDATE fleet_leases SET owner = '', expires_at = now() - interval '1 millisecond' WHERE fleet = ${fleet} AND owner = ${member}`,
        sql`DELETE FROM fleet_members WHERE fleet = ${fleet} AND member = ${member}`,
      ).pipe(Effect.asVoid)

    const leases = (fleet: string) =>
      sql<{
        exchange: string
        symbol: string
        owner: string
        epoch: string
        acquired_at: Date | string
        renewed_at: Date | string
        expires_at: Date | string
        takeovers: number
        lapsed: boolean
      }>`
        SELECT exchange, symbol, owner, epoch, acquired_at, renewed_at, expires_at, takeovers,
          expires_at <= now() AS lapsed
        FROM fleet_leases WHERE fleet = ${fleet} ORDER BY exchange, symbol`.pipe(
        Effect.map((rows) =>
          rows.map((r): LeaseRow => ({
            exchange: r.exchange,
            symbol: r.symbol,
            owner: r.owner,
            epoch: Number(r.epoch),
            acquiredAt: ms(r.acquired_at),
            renewedAt: ms(r.renewed_at),
            expiresAt: ms(r.expires_at),
            takeovers: r.takeovers,
            lapsed: r.lapsed,
          })),
        ),
      )

    return { heartbeat, renew, acquire, release, leave, leases } as const
  }),
}) {}
