import { mkdirSync } from "node:fs"
import { join } from "node:path"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgMigrator from "@effect/sql-pg/PgMigrator"
import { Data, Effect, Layer, Option } from "effect"
import { AppConfig } from "./AppConfig.js"
import createTables from "./migrations/0001_create_tables.js"
import timescale from "./migrations/0002_timescale.js"
import historyCheckpoints from "./migrations/0003_history_checkpoints.js"
import indicators from "./migrations/0004_indicators.js"
import timescaleLifecycle from "./migrations/0005_timescale_lifecycle.js"
import fleet from "./migrations/0006_fleet.js"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{
  readonly op: "open" | "listen"
  readonly dataDir: string
  readonly cause: unknown
}> {
  override get message(): string {
    return `embedded PostgreSQL could not ${this.op} its data in ${this.dataDir}: ${String(this.cause)}. Check that the directory is writable and not used by another daemon, or set DATABASE_URL.`
  }
}

/**
 * PGlite (PostgreSQL compiled to WebAssembly) with data under `<DATA_DIR>/pglite`, served over the PostgreSQL wire
 * protocol on a loopback port chosen by the OS, so the daemon reaches it through exactly the same client as a real
 * server. PGlite runs one query at a time, so the pool holds a single connection. It is imported only here, when no
 * DATABASE_URL is set: a daemon on a real server never loads its WebAssembly build.
 */
const embedded = (dataDir: string) =>
  Layer.unwrapScoped(
    Effect.gen(function* () {
      const dir = join(dataDir, "pglite")
      const db = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            mkdirSync(dir, { recursive: true })
            const { PGlite } = await import("@electric-sql/pglite")
            const db = new PGlite(dir)
            await db.waitReady
            return db
          },
          catch: (cause) => new EmbeddedPostgresError({ op: "open", dataDir: dir, cause }),
        }),
        (db) => Effect.promise(() => db.close()).pipe(Effect.timeout("10 seconds"), Effect.ignore),
      )
      const server = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: async () => {
            const { PGLiteSocketServer } = await import("@electric-sql/pglite-socket")
            const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 4 })
            await server.start()
            return server
          },
          catch: (cause) => new EmbeddedPostgresError({ op: "listen", dataDir: dir, cause }),
        }),
        (server) => Effect.promise(() => server.stop()).pipe(Effect.timeout("5 seconds"), Effect.ignore),
      )
      const [host, port] = server.getServerConn().split(":")
      yield* Effect.logInfo(
        `embedded PostgreSQL (PGlite) at ${dir}, serving on ${host}:${port}; set DATABASE_URL for a server`,
      )
      return PgClient.layer({
        host: host!,
        port: Number(port),
        database: "postgres",
        username: "postgres",
        maxConnections: 1,
        applicationName: "neuraltrade-ingest",
      })
    }),
  )

const ClientLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    return Option.match(config.databaseUrl, {
      onNone: () => embedded(config.dataDir),
      onSome: (url) =>
        PgClient.layer({
          url,
          maxConnections: 4,
          connectTimeout: "10 seconds",
          applicationName: "neuraltrade-ingest",
        }),
    })
  }),
)

const MigratorLive = PgMigrator.layer({
  loader: PgMigrator.fromRecord({
    "0001_create_tables": createTables,
    "0002_timescale": timescale,
    "0003_history_checkpoints": historyCheckpoints,
    "0004_indicators": indicators,
    "0005_timescale_lifecycle": timescaleLifecycle,
    "0006_fleet": fleet,
  }),
}).pipe(Layer.provide(NodeContext.layer))

/** PostgreSQL client with the schema migrated; start-up fails with the reason when the database is unreachable. */
export const PostgresLive = MigratorLive.pipe(Layer.provideMerge(ClientLive))
