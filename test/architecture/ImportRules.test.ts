import { ESLint } from "eslint"
import { describe, expect, it } from "vitest"

const eslint = new ESLint()

/** The import-rule errors ESLint reports for `code` as if it were the file at `filePath`. */
const violations = async (filePath: string, code: string) => {
  const [result] = await eslint.lintText(code, { filePath })
  return result!.messages.filter((m) => m.ruleId === "no-restricted-imports").map((m) => m.message)
}

const importing = (from: string) => `import * as M from "${from}"\nexport const planted = M\n`

describe("the rooms of src/ (ARCHITECTURE.md), checked by npm run lint", () => {
  it("refuses a planted import across a room's wall, naming the rule", async () => {
    for (const [file, from, rule] of [
      ["src/domain/Planted.ts", "../layers/Health.js", "domain/ is the pure core"],
      ["src/domain/Planted.ts", "../exchanges/registry.js", "domain/ is the pure core"],
      ["src/exchanges/binance/Planted.ts", "../../actors/Sinks.js", "exchanges/ are pure"],
      ["src/exchanges/Planted.ts", "../replay/Synthetic.js", "exchanges/ are pure"],
      ["src/schema/Planted.ts", "../domain/Decimal.js", "schema/ describes data"],
      ["src/layers/Planted.ts", "../actors/Aggregators.js", "layers/ are services"],
      ["src/actors/Planted.ts", "../replay/ReplayServer.js", "never imports the replay exchange"],
      ["src/replay/Planted.ts", "../layers/AppConfig.js", "the replay exchange serves"],
      ["src/actors/Planted.ts", "@effect/platform", 'import the module itself, e.g. "@effect/platform/<Module>"'],
    ] as const)
      expect(await violations(file, importing(from)), `${file} importing ${from}`).toEqual([
        expect.stringContaining(rule),
      ])
  })

  it("lets each room import what it builds on", async () => {
    for (const [file, from] of [
      ["src/domain/Planted.ts", "../schema/Market.js"],
      ["src/exchanges/binance/Planted.ts", "../../domain/Decimal.js"],
      ["src/replay/Planted.ts", "../exchanges/registry.js"],
      ["src/layers/Planted.ts", "../exchanges/registry.js"],
      ["src/layers/Planted.ts", "../domain/Schedules.js"],
      ["src/actors/Planted.ts", "../layers/Health.js"],
      ["src/replay/Planted.ts", "../domain/Decimal.js"],
      ["src/App.ts", "./actors/Sinks.js"],
      ["src/layers/Planted.ts", "@effect/platform/HttpRouter"],
    ] as const)
      expect(await violations(file, importing(from)), `${file} importing ${from}`).toEqual([])
  })
})
