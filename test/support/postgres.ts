import pg from "pg"

export interface StoredCandle {
  exchange: string
  symbol: string
  timeframe: string
  timestamp: number
  open: string
  high: string
  low: string
  close: string
  volume: string
  quote_volume: string
  trades: number
  taker_buy_base: string
  taker_buy_quote: string
  close_time: number
  is_final: boolean
  complete: boolean
}

export const CANDLES_SQL = `SELECT exchange, symbol, timeframe, "timestamp"::text AS timestamp, open::text, high::text,
  low::text, close::text, volume::text, quote_volume::text, trades, taker_buy_base::text, taker_buy_quote::text,
  close_time::text AS close_time, is_final, complete FROM ohlcv_candles ORDER BY exchange, symbol, timeframe, "timestamp"`

export const normaliseRows = (rows: ReadonlyArray<Record<string, unknown>>): Array<StoredCandle> =>
  rows.map((r) => ({
    ...(r as unknown as StoredCandle),
    timestamp: Number(r.timestamp),
    close_time: Number(r.close_time),
  }))

/** A fresh database on the machine's PostgreSQL for one test file, dropped afterwards. */
export const scratchDatabase = (prefix: string) => {
  const admin = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "postgres" })
  const names: Array<string> = []
  // Counted before the first await, so that databases created side by side (concurrent tests) get distinct names.
  let created = 0
  return {
    start: () => admin.connect(),
    /** Creates a database and returns its URL. */
    create: async (): Promise<string> => {
      const name = `${prefix}_${process.pid}_${Date.now()}_${created++}`
      await admin.query(`CREATE DATABASE ${name}`)
      names.push(name)
      return `postgres://postgres@127.0.0.1:5432/${name}`
    },
    stop: async () => {
      for (const n of names) await admin.query(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`)
      await admin.end()
    },
  }
}

export const query = async <A extends Record<string, unknown>>(url: string, sql: string): Promise<Array<A>> => {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(sql)).rows as Array<A>
  } finally {
    await client.end()
  }
}

export const storedCandles = async (url: string): Promise<Array<StoredCandle>> =>
  normaliseRows(await query(url, CANDLES_SQL))
