import { mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ExchangeId } from "../../src/schema/Market.js"
import { launchChromium, SCREENSHOTS } from "../support/browser.js"
import { freePort, startDaemon, startReplay, until } from "../support/daemon.js"

const DEMO_MS = 3 * 60_000

/** The log lines at a level, from the daemon's JSON lines. */
const linesAt = (output: string, level: string) => output.split("\n").filter((l) => l.includes(`"level":"${level}"`))

describe("the README's demo, as a new user runs it", () => {
  it("`node dist/replay.js`, then the daemon on the line it prints (embedded PostgreSQL): three minutes without an error or warning line, and the page shows all five exchanges trading", async () => {
    const replay = await startReplay([])
    const dataDir = mkdtempSync(join(tmpdir(), "ingest-demo-"))
    const httpPort = await freePort()
    // Only what the README adds: the HTTP port and data directory are the test's own, so it can run beside others.
    const daemon = startDaemon({ ...replay.env, HTTP_PORT: String(httpPort), DATA_DIR: dataDir }, process.cwd())
    const browser = await launchChromium()
    try {
      await until(
        "the daemon's page",
        () =>
          fetch(`http://127.0.0.1:${httpPort}/`).then(
            (r) => r.ok,
            () => false,
          ),
        // Its embedded database starts in seconds alone, and took over 30 s beside the heaviest tests of the suite.
        120_000,
      )
      await new Promise((r) => setTimeout(r, DEMO_MS))
      expect(linesAt(daemon.output(), "error")).toEqual([])
      // The one warning the README's walk-through explains: on a machine busy with other work (the rest of the
      // suite runs beside this test), a symbol of the random tape can fall quiet for longer than its usual pace.
      expect(linesAt(daemon.output(), "warn").filter((l) => !l.includes("longer than its usual pace allows"))).toEqual(
        [],
      )

      const page = await browser.newPage({ viewport: { width: 1280, height: 1100 } })
      await page.goto(`http://127.0.0.1:${httpPort}/#exchange=binance&symbol=BTC%2FUSDT&timeframe=1m`)
      await until("every symbol's row", async () => (await page.locator("#symbols tbody tr").count()) === 10)
      const rows = page.locator("#symbols tbody tr")
      const states: Array<string> = []
      for (let i = 0; i < (await rows.count()); i++)
        states.push(`${await rows.nth(i).getAttribute("data-key")} ${await rows.nth(i).getAttribute("data-state")}`)
      const trading = new Set(states.filter((s) => s.endsWith(" trading")).map((s) => s.split(" ")[0]))
      expect(states.filter((s) => !s.endsWith(" trading"))).toEqual([])
      expect([...trading].sort()).toEqual([...ExchangeId.literals].sort())
      // Three minutes of trading: the chart holds final candles, and the daemon reconciled Binance's with the
      // replay exchange's own klines without a difference.
      expect(Number(await page.locator("#chart").getAttribute("data-finals"))).toBeGreaterThanOrEqual(2)
      expect(await page.locator('#symbols tr[data-key="binance BTC/USDT"] td').last().textContent()).toMatch(
        /^[1-9]\d* checked, 0 differ$/,
      )
      mkdirSync(SCREENSHOTS, { recursive: true })
      await page.screenshot({ path: join(SCREENSHOTS, "demo-page.png") })

      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
      expect(linesAt(daemon.output(), "error")).toEqual([])
    } finally {
      await browser.close()
      daemon.process.kill("SIGKILL")
      await replay.stop()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 360_000)
})
