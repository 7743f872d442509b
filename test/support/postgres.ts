import pg from "pg"
import { type StoredCandle, CANDLES_SQL, normaliseRows } from "./candles.js"

/** A fresh database on the machine's PostgreSQL for one test file, dropped afterwards. */
export const scratchDatabase = (prefix: string) => {
  const admin = new pg.Client({ host: "127.0.0.1", port: 5432, user: "postgres", database: "postgres" })
  const names: Array<string> = []
  return {
    start: () => admin.connect(),
    /** Creates a database and returns its URL. */
    create: async (): Promise<string> => {
      const name = `${prefix}_${process.pid}_${Date.now()}_${names.length}`
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
