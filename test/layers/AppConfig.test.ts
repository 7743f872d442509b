import { readFileSync } from "node:fs"
import { it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect, LogLevel, Option } from "effect"
import YAML from "yaml"
import { describe, expect } from "vitest"
import { describeConfigError, loadAppConfig } from "../../src/layers/AppConfig.js"

const load = (env: Record<string, string>) =>
  loadAppConfig.pipe(
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)), { pathDelim: "_" })),
  )

describe("LOG_LEVEL", () => {
  it.effect("takes the names people type, in any case", () =>
    Effect.gen(function* () {
      for (const [text, level] of [
        ["warn", LogLevel.Warning],
        ["Warning", LogLevel.Warning],
        ["WARN", LogLevel.Warning],
        ["info", LogLevel.Info],
        ["DEBUG", LogLevel.Debug],
        ["off", LogLevel.None],
      ] as const)
        expect((yield* load({ LOG_LEVEL: text })).logLevel).toBe(level)
      expect((yield* load({})).logLevel).toBe(LogLevel.Info)
    }),
  )

  it.effect("refuses anything else in one line that names the variable and the choices", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(load({ LOG_LEVEL: "loud" }))
      expect(describeConfigError(error)).toBe(
        "LOG_LEVEL: expected one of all, trace, debug, info, warn, warning, error, fatal, none, off (any case), got loud",
      )
    }),
  )
})

describe("HEAP_GROWING_PERCENT", () => {
  it.effect("defaults to 50, takes 0 (V8's own) and refuses what is not a percentage", () =>
    Effect.gen(function* () {
      expect((yield* load({})).heapGrowingPercent).toBe(50)
      expect((yield* load({ HEAP_GROWING_PERCENT: "0" })).heapGrowingPercent).toBe(0)
      const error = yield* Effect.flip(load({ HEAP_GROWING_PERCENT: "-5" }))
      expect(describeConfigError(error)).toContain("HEAP_GROWING_PERCENT")
      expect(describeConfigError(error)).toContain("must be a whole percentage from 0 to 400")
    }),
  )
})

describe("FEED_BATCH_MS", () => {
  it.effect("defaults to 30 ms, takes 0 (no wait) and refuses a negative wait, naming the variable", () =>
    Effect.gen(function* () {
      expect(Duration.toMillis((yield* load({})).feedBatchWait)).toBe(30)
      expect(Duration.toMillis((yield* load({ FEED_BATCH_MS: "0" })).feedBatchWait)).toBe(0)
      const error = yield* Effect.flip(load({ FEED_BATCH_MS: "-1" }))
      expect(describeConfigError(error)).toContain("FEED_BATCH_MS")
    }),
  )
})

describe("INDICATORS, RETENTION and INFLUX_GZIP", () => {
  it.effect("default to the seed's indicators and retention, and gzip off", () =>
    Effect.gen(function* () {
      const config = yield* load({ INFLUX_URL: "http://127.0.0.1:8086" })
      expect(config.indicators).toHaveLength(14)
      expect(config.retention.table.get("1d")).toBeUndefined()
      expect(config.retention.table.get("1m")).toBe(180 * 86_400_000)
      expect(config.influx.pipe(Option.map((i) => i.gzip))).toEqual(Option.some(false))
      expect((yield* load({ INDICATORS: "none" })).indicators).toEqual([])
    }),
  )

  it.effect("refuse what they cannot use, naming it", () =>
    Effect.gen(function* () {
      const indicators = describeConfigError(yield* Effect.flip(load({ INDICATORS: "sma_20,stoch_14" })))
      expect(indicators).toContain("INDICATORS")
      expect(indicators).toContain("unknown indicator stoch_14")
      const retention = describeConfigError(yield* Effect.flip(load({ RETENTION: "1m=6months" })))
      expect(retention).toContain("RETENTION")
      expect(retention).toContain("1m=6months: expected <timeframe>=<number><ms|s|m|h|d>")
    }),
  )
})

describe("REDIS_URL", () => {
  it.effect(
    "off when unset; the primary exchange defaults to the first of FEEDS; a URL of another scheme is refused",
    () =>
      Effect.gen(function* () {
        expect((yield* load({})).redis).toEqual(Option.none())
        const on = yield* load({ REDIS_URL: "redis://127.0.0.1:6379/2", FEEDS: "coinbase,binance" })
        expect(on.redis.pipe(Option.map((r) => [r.primaryExchange, r.quotesPerSecond]))).toEqual(
          Option.some(["coinbase", 4]),
        )
        const error = describeConfigError(yield* Effect.flip(load({ REDIS_URL: "http://127.0.0.1:6379" })))
        expect(error).toContain("REDIS_URL")
        expect(error).toContain("must be a redis:// or rediss:// URL")
      }),
  )
})

describe("FLEET", () => {
  it.effect("is off unless named; takes a member name, a mode and a takeover bound; needs DATABASE_URL", () =>
    Effect.gen(function* () {
      expect(Option.isNone((yield* load({})).fleet)).toBe(true)
      const db = { DATABASE_URL: "postgres://127.0.0.1/x" }
      const fleet = Option.getOrThrow((yield* load({ ...db, FLEET: "eu-1", FLEET_MEMBER: "a" })).fleet)
      expect([fleet.name, fleet.member, fleet.mode, Duration.toMillis(fleet.takeoverAfter)]).toEqual([
        "eu-1",
        "a",
        "shared",
        15_000,
      ])
      const redundant = yield* load({ ...db, FLEET: "eu-1", FLEET_MODE: "redundant", FLEET_TAKEOVER_MS: "5000" })
      expect(Option.map(redundant.fleet, (f) => [f.mode, Duration.toMillis(f.takeoverAfter)])).toEqual(
        Option.some(["redundant", 5_000]),
      )
      expect(describeConfigError(yield* Effect.flip(load({ FLEET: "eu-1" })))).toMatch(
        /^FLEET: a fleet coordinates through one PostgreSQL server: set DATABASE_URL/,
      )
      expect(describeConfigError(yield* Effect.flip(load({ ...db, FLEET: "eu 1" })))).toMatch(/^FLEET: must be a name/)
      expect(describeConfigError(yield* Effect.flip(load({ ...db, FLEET: "x", FLEET_TAKEOVER_MS: "500" })))).toMatch(
        /^FLEET_TAKEOVER_MS: must be a whole number of milliseconds ≥ 2000/,
      )
    }),
  )

  it.effect(
    "docker-compose's fleet profile: two members of one fleet whose environments load, each with its own name, data and port",
    () =>
      Effect.gen(function* () {
        const compose = YAML.parse(readFileSync("docker-compose.yml", "utf8"), { merge: true }) as {
          services: Record<
            string,
            {
              profiles?: Array<string>
              environment: Record<string, string>
              volumes: Array<string>
              ports: Array<string>
            }
          >
        }
        const members = ["ingest-a", "ingest-b"].map((n) => compose.services[n]!)
        const configs = []
        for (const m of members) {
          expect(m.profiles).toEqual(["fleet"])
          configs.push(yield* load(m.environment))
        }
        const fleets = configs.map((c) => Option.getOrThrow(c.fleet))
        expect(fleets[0]!.name).toBe(fleets[1]!.name)
        expect(fleets[0]!.member).not.toBe(fleets[1]!.member)
        expect(configs[0]!.feeds).toEqual(configs[1]!.feeds)
        expect(new Set(members.map((m) => m.volumes[0]!.split(":")[0])).size).toBe(2)
        expect(new Set(members.map((m) => m.ports[0]!.split(":")[0])).size).toBe(2)
        expect(Option.isNone((yield* load(compose.services["ingest"]!.environment)).fleet)).toBe(true)
      }),
  )
})
