import { it } from "@effect/vitest"
import { ConfigProvider, Effect, LogLevel } from "effect"
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
