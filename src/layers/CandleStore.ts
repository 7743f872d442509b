import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlError from "@effect/sql/SqlError"
import { Effect } from "effect"
import type { IngestionMetric } from "../domain/IngestionMetrics.js"
import type { IngestionMode } from "../domain/SymbolStats.js"
import { bucketStart, type Candle, type Timeframe } from "../schema/Candle.js"
import type { ExchangeId } from "../schema/Market.js"

export interface CandleQuery {
  readonly exchange: ExchangeId
  readonly symbol: string
  readonly timeframe: Timeframe
  readonly from?: number | undefined
  readonly to?: number | undefined
  readonly limit: number
}

type IngestionStatusRow = {
  readonly exchange: string
  readonly symbol: string
  readonly timeframe: string
  readonly last_ingested_timestamp: string | null
  readonly last_trade_id: string | null
  readonly last_ingested_at: Date | string | null
  readonly ingestion_mode: string
  readonly status: string
  readonly error_message: string | null
  readonly latency_ms: number | null
  readonly updated_at: Date | string
}

type CandleRow = {
  readonly exchange: string
  readonly symbol: string
  readonly timeframe: string
  readonly timestamp: string
  readonly open: string
  readonly high: string
  readonly low: string
  readonly close: string
  readonly volume: string
  readonly quote_volume: string
  readonly trades: number
  readonly taker_buy_base: string
  readonly taker_buy_quote: string
  readonly vwap: string | null
  readonly close_time: string
  readonly is_final: boolean
  readonly revision: number
  readonly complete: boolean
}

/** Keeps, per natural key, the version that wins in the database too (`outranks`). */
export const dedupeCandles = (candles: ReadonlyArray<Candle>): ReadonlyArray<Candle> => {
  const byKey = new Map<string, Candle>()
  for (const c of candles) {
    const key = `${c.exchange}\u0000${c.symbol}\u0000${c.timeframe}\u0000${c.openTime}`
    const prev = byKey.get(key)
    if (prev === undefined || !outranks(prev, c)) byKey.set(key, c)
  }
  return [...byKey.values()]
}
/**
 * The store's order of versions of one candle, as the upsert's condition: (is_final, revision, complete, trades).
 * Trades order the open snapshots of one revision: of two collectors, the one that is behind never overwrites the
 * other's fuller candle.
 */
const outranks = (a: Candle, b: Candle): boolean =>
  a.isFinal !== b.isFinal
    ? a.isFinal
    : a.revision !== b.revision
      ? a.revision > b.revision
      : a.complete !== b.complete
        ? a.complete
        : a.trades > b.trades

/**
 * Candle persistence. Upserts are idempotent and ordered by (is_final, revision, complete, trades), so retries,
 * at-least-once redelivery and several daemons writing the same candle converge on the newest version; of two
 * daemons' candles of one revision, the complete one stays, whichever is written last (redundant collectors: the
 * one that missed trades it could not backfill never overwrites the one that saw them all).
 */
export class CandleStore extends Effect.Service<CandleStore>()("ingestd/CandleStore", {
  effect: Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient

    // One array parameter per column (unnest) keeps any batch size far below PostgreSQL's 65,535-parameter limit.
    const upsertCandles = (cs: ReadonlyArray<Candle>) => sql`
      INSERT INTO ohlcv_candles AS c (exchange, symbol, timeframe, "timestamp", open, high, low, close, volume,
        quote_volume, trades, taker_buy_base, taker_buy_quote, vwap, close_time, is_final, revision, complete)
      SELECT * FROM unnest(
        ${cs.map((c) => c.exchange)}::text[], ${cs.map((c) => c.symbol)}::text[], ${cs.map((c) => c.timeframe)}::text[],
        ${cs.map((c) => c.openTime)}::bigint[], ${cs.map((c) => c.open)}::numeric[], ${cs.map((c) => c.high)}::numeric[],
        ${cs.map((c) => c.low)}::numeric[], ${cs.map((c) => c.close)}::numeric[], ${cs.map((c) => c.volume)}::numeric[],
        ${cs.map((c) => c.quoteVolume)}::numeric[], ${cs.map((c) => c.trades)}::integer[],
        ${cs.map((c) => c.takerBuyBase)}::numeric[], ${cs.map((c) => c.takerBuyQuote)}::numeric[],
        ${cs.map((c) => c.vwap)}::numeric[], ${cs.map((c) => c.closeTime)}::bigint[], ${cs.map((c) => c.isFinal)}::boolean[],
        ${cs.map((c) => c.revision)}::integer[], ${cs.map((c) => c.complete)}::boolean[])
      ON CONFLICT (exchange, symbol, timeframe, "timestamp") DO UPDATE SET
        open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close,
        volume = EXCLUDED.volume, quote_volume = EXCLUDED.quote_volume, trades = EXCLUDED.trades,
        taker_buy_base = EXCLUDED.taker_buy_base, taker_buy_quote = EXCLUDED.taker_buy_quote, vwap = EXCLUDED.vwap,
        close_time = EXCLUDED.close_time, is_final = EXCLUDED.is_final, revision = EXCLUDED.revision,
        complete = EXCLUDED.complete, updated_at = now()
      WHERE (c.is_final, c.revision, c.complete, c.trades)
        <= (EXCLUDED.is_final, EXCLUDED.revision, EXCLUDED.complete, EXCLUDED.trades)`

    /**
     * Progress per exchange+symbol+timeframe: the newest final, complete candle and the last trade in it. A
     * restart resumes from there, so an incomplete candle (a gap not yet filled) never moves it on.
     */
    const upsertStatus = (cs: ReadonlyArray<Candle>) => {
      const latest = new Map<string, Candle>()
      for (const c of cs) {
        if (!c.isFinal || !c.complete) continue
        const key = `${c.exchange}\u0000${c.symbol}\u0000${c.timeframe}`
        const prev = latest.get(key)
        if (prev === undefined || c.openTime > prev.openTime) latest.set(key, c)
      }
      const rows = [...latest.values()]
      if (rows.length === 0) return Effect.void
      return sql`
        INSERT INTO ingestion_status AS s (exchange, symbol, timeframe, last_ingested_timestamp, last_trade_id,
          last_ingested_at, ingestion_mode, status, latency_ms, updated_at)
        SELECT e, sy, tf, ts, NULLIF(tid, ''), now(), 'websocket', 'active',
          LEAST(GREATEST((extract(epoch FROM now()) * 1000)::bigint - ct, 0), 2147483647)::integer, now()
        FROM unnest(${rows.map((c) => c.exchange)}::text[], ${rows.map((c) => c.symbol)}::text[],
          ${rows.map((c) => c.timeframe)}::text[], ${rows.map((c) => c.openTime)}::bigint[],
          ${rows.map((c) => c.lastTradeId)}::text[], ${rows.map((c) => c.closeTime)}::bigint[]) AS u(e, sy, tf, ts, tid, ct)
        ON CONFLICT (exchange, symbol, timeframe) DO UPDATE SET
          last_ingested_timestamp = EXCLUDED.last_ingested_timestamp,
          last_trade_id = COALESCE(EXCLUDED.last_trade_id, s.last_trade_id),
          last_ingested_at = EXCLUDED.last_ingested_at, latency_ms = EXCLUDED.latency_ms, updated_at = now()
        WHERE s.last_ingested_timestamp IS NULL OR s.last_ingested_timestamp <= EXCLUDED.last_ingested_timestamp`.pipe(
        Effect.asVoid,
      )
    }

    const upsert = (candles: ReadonlyArray<Candle>): Effect.Effect<void, SqlError.SqlError> => {
      const cs = dedupeCandles(candles)
      return cs.length === 0
        ? Effect.void
        : sql.withTransaction(Effect.zipRight(upsertCandles(cs), upsertStatus(cs))).pipe(
            Effect.withSpan("CandleStore.upsert", {
              kind: "client",
              attributes: { "db.system": "postgresql", rows: cs.length },
            }),
          )
    }

    /**
     * The upsert of a shared fleet's member: only the candles of symbols whose lease it still holds under the epoch
     * it knows are written, checked in the same transaction, whose lock on those lease rows keeps a takeover from
     * slipping in between. Returns how many candles were fenced off.
     */
    const upsertFenced = (
      candles: ReadonlyArray<Candle>,
      fence: {
        readonly fleet: string
        readonly member: string
        readonly epochOf: (e: string, s: string) => number | undefined
      },
    ): Effect.Effect<number, SqlError.SqlError> => {
      const claims = new Map<string, { exchange: string; symbol: string; epoch: number }>()
      for (const c of candles) {
        const key = `${c.exchange}\u0000${c.symbol}`
        if (claims.has(key)) continue
        const epoch = fence.epochOf(c.exchange, c.symbol)
        if (epoch !== undefined) claims.set(key, { exchange: c.exchange, symbol: c.symbol, epoch })
      }
      if (claims.size === 0) return Effect.succeed(candles.length)
      const cl = [...claims.values()]
      return sql
        .withTransaction(
          Effect.gen(function* () {
            const rows = yield* sql<{ exchange: string; symbol: string }>`
              SELECT l.exchange, l.symbol FROM fleet_leases l
              JOIN unnest(${cl.map((c) => c.exchange)}::text[], ${cl.map((c) => c.symbol)}::text[],
                ${cl.map((c) => c.epoch)}::bigint[]) AS u(e, s, ep)
                ON l.exchange = u.e AND l.symbol = u.s AND l.epoch = u.ep
              WHERE l.fleet = ${fence.fleet} AND l.owner = ${fence.member}
              FOR SHARE OF l`
            const held = new Set(rows.map((r) => `${r.exchange}\u0000${r.symbol}`))
            const cs = dedupeCandles(candles.filter((c) => held.has(`${c.exchange}\u0000${c.symbol}`)))
            if (cs.length > 0) yield* Effect.zipRight(upsertCandles(cs), upsertStatus(cs))
            return candles.length - candles.filter((c) => held.has(`${c.exchange}\u0000${c.symbol}`)).length
          }),
        )
        .pipe(
          Effect.withSpan("CandleStore.upsertFenced", {
            kind: "client",
            attributes: { "db.system": "postgresql", rows: candles.length },
          }),
        )
    }

    const query = (q: CandleQuery) =>
      sql<CandleRow>`
        SELECT exchange, symbol, timeframe, "timestamp", open, high, low, close, volume, quote_volume, trades,
          taker_buy_base, taker_buy_quote, vwap, close_time, is_final, revision, complete
        FROM ohlcv_candles
        WHERE exchange = ${q.exchange} AND symbol = ${q.symbol} AND timeframe = ${q.timeframe}
          AND "timestamp" >= ${q.from ?? 0} AND "timestamp" <= ${q.to ?? Number.MAX_SAFE_INTEGER}
        ORDER BY "timestamp" DESC
        LIMIT ${q.limit}`.pipe(Effect.map((rows) => rows.map(fromRow).reverse()))

    const ping = sql`SELECT 1`.pipe(Effect.asVoid)

    const ingestionStatus = sql<IngestionStatusRow>`
      SELECT exchange, symbol, timeframe, last_ingested_timestamp, last_trade_id, last_ingested_at, ingestion_mode,
        status, error_message, latency_ms, updated_at
      FROM ingestion_status ORDER BY exchange, symbol, timeframe`.pipe(
      Effect.map((rows) =>
        rows.map((r) => ({
          exchange: r.exchange,
          symbol: r.symbol,
          timeframe: r.timeframe,
          lastIngestedTimestamp: r.last_ingested_timestamp === null ? null : Number(r.last_ingested_timestamp),
          lastTradeId: r.last_trade_id,
          lastIngestedAt: r.last_ingested_at === null ? null : new Date(r.last_ingested_at).toISOString(),
          ingestionMode: r.ingestion_mode,
          status: r.status,
          errorMessage: r.error_message,
          latencyMs: r.latency_ms,
          updatedAt: new Date(r.updated_at).toISOString(),
        })),
      ),
    )

    /**
     * How a symbol's trades arrive now, on every timeframe's row; `error` marks the rows `error` with the reason
     * (a backfill that failed), its absence clears it.
     */
    const setMode = (exchange: ExchangeId, symbol: string, mode: IngestionMode, error?: string) =>
      sql`
        INSERT INTO ingestion_status AS s (exchange, symbol, timeframe, ingestion_mode, status, error_message, updated_at)
        VALUES (${exchange}, ${symbol}, '1m', ${mode}, ${error === undefined ? "active" : "error"}, ${error ?? null}, now())
        ON CONFLICT (exchange, symbol, timeframe) DO NOTHING`.pipe(
        Effect.zipRight(sql`
          UPDATE ingestion_status SET ingestion_mode = ${mode}, status = ${error === undefined ? "active" : "error"},
            error_message = ${error ?? null}, updated_at = now()
          WHERE exchange = ${exchange} AND symbol = ${symbol}`),
        Effect.asVoid,
      )

    /**
     * Where a symbol's first trade stands, before any candle of it is final: a row whose resume point is the id
     * before that trade and the minute before its own. Progress already recorded is left alone.
     */
    const markStart = (exchange: ExchangeId, symbol: string, afterId: number, minute: number) =>
      sql`
        INSERT INTO ingestion_status AS s (exchange, symbol, timeframe, last_ingested_timestamp, last_trade_id, updated_at)
        VALUES (${exchange}, ${symbol}, '1m', ${minute - 60_000}, ${String(afterId)}, now())
        ON CONFLICT (exchange, symbol, timeframe) DO UPDATE SET
          last_ingested_timestamp = EXCLUDED.last_ingested_timestamp, last_trade_id = EXCLUDED.last_trade_id,
          updated_at = now()
        WHERE s.last_trade_id IS NULL`.pipe(Effect.asVoid)

    /** A finished backfill, kept in `ingestion_metrics` (which has no exchange column: the symbol carries it). */
    const recordFill = (exchange: ExchangeId, symbol: string, trades: number) =>
      sql`
        INSERT INTO ingestion_metrics (symbol, timeframe, metric_type, metric_value)
        VALUES (${`${exchange}:${symbol}`}, '1m', 'backfill_trades', ${trades})`.pipe(Effect.asVoid)

    /** One interval's per-symbol ingestion metrics (IngestionMeter), timestamped now, timeframe `1m` as the seed's. */
    const recordIngestion = (rows: ReadonlyArray<IngestionMetric>) =>
      rows.length === 0
        ? Effect.void
        : sql`
            INSERT INTO ingestion_metrics (symbol, timeframe, metric_type, metric_value)
            SELECT s, '1m', t, v FROM unnest(${rows.map((r) => r.symbol)}::text[],
              ${rows.map((r) => r.metricType)}::text[], ${rows.map((r) => r.value)}::double precision[]) AS u(s, t, v)`.pipe(
            Effect.asVoid,
          )

    /**
     * Where a restarted daemon picks a symbol up: the last trade id of its newest complete final 1m candle, when
     * (by the clock) that candle was stored, and the stored final 1m candles from the start of the largest
     * timeframe's bucket that candle falls in.
     */
    const resumePoint = (exchange: ExchangeId, symbol: string, longestPeriod: number) =>
      Effect.gen(function* () {
        const [row] = yield* sql<{
          last_ingested_timestamp: string | null
          last_trade_id: string | null
          last_ingested_at: Date | string
        }>`
          SELECT last_ingested_timestamp, last_trade_id, COALESCE(last_ingested_at, updated_at) AS last_ingested_at
          FROM ingestion_status
          WHERE exchange = ${exchange} AND symbol = ${symbol} AND timeframe = '1m'`
        if (row === undefined || row.last_ingested_timestamp === null || row.last_trade_id === null) return undefined
        const lastFinal = Number(row.last_ingested_timestamp)
        const from = bucketStart(lastFinal + 60_000, longestPeriod)
        const rows = yield* sql<CandleRow>`
          SELECT exchange, symbol, timeframe, "timestamp", open, high, low, close, volume, quote_volume, trades,
            taker_buy_base, taker_buy_quote, vwap, close_time, is_final, revision, complete
          FROM ohlcv_candles
          WHERE exchange = ${exchange} AND symbol = ${symbol} AND timeframe = '1m' AND is_final
            AND "timestamp" >= ${Math.min(from, lastFinal)} AND "timestamp" <= ${lastFinal}
          ORDER BY "timestamp"`
        return {
          lastTradeId: row.last_trade_id,
          lastFinal,
          storedAt: new Date(row.last_ingested_at).getTime(),
          minutes: rows.map(fromRow),
        }
      })

    /** The newest stored final 1m candle that opened before `before`: what the minutes after it continue from. */
    const minuteBefore = (exchange: ExchangeId, symbol: string, before: number) =>
      Effect.map(
        sql<CandleRow>`
          SELECT exchange, symbol, timeframe, "timestamp", open, high, low, close, volume, quote_volume, trades,
            taker_buy_base, taker_buy_quote, vwap, close_time, is_final, revision, complete
          FROM ohlcv_candles
          WHERE exchange = ${exchange} AND symbol = ${symbol} AND timeframe = '1m' AND is_final AND "timestamp" < ${before}
          ORDER BY "timestamp" DESC LIMIT 1`,
        (rows) => (rows[0] === undefined ? undefined : fromRow(rows[0])),
      )

    return {
      upsert,
      upsertFenced,
      query,
      ping,
      ingestionStatus,
      setMode,
      recordFill,
      recordIngestion,
      markStart,
      resumePoint,
      minuteBefore,
    } as const
  }),
}) {}

const fromRow = (r: CandleRow) => ({
  exchange: r.exchange,
  symbol: r.symbol,
  timeframe: r.timeframe,
  openTime: Number(r.timestamp),
  closeTime: Number(r.close_time),
  open: r.open,
  high: r.high,
  low: r.low,
  close: r.close,
  volume: r.volume,
  quoteVolume: r.quote_volume,
  trades: r.trades,
  takerBuyBase: r.taker_buy_base,
  takerBuyQuote: r.taker_buy_quote,
  vwap: r.vwap,
  isFinal: r.is_final,
  revision: r.revision,
  complete: r.complete,
})
