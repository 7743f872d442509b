import { mkdirSync, mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Browser } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { launchChromium, SCREENSHOTS } from "../support/browser.js"
import { freePort, startDaemon, until } from "../support/daemon.js"
import { scratchDatabase } from "../support/postgres.js"

const SILENT_MS = 3_000
const HISTORY_MS = 6 * 60_000

interface StoredCandle {
  readonly openTime: number
  readonly isFinal: boolean
}

const storedFinals = async (httpPort: number, symbol: string) => {
  const q = new URLSearchParams({ exchange: "binance", symbol, timeframe: "1m" })
  const res = await fetch(`http://127.0.0.1:${httpPort}/api/candles?${q}`).catch(() => undefined)
  if (res?.ok !== true) return []
  return ((await res.json()) as { candles: Array<StoredCandle> }).candles.filter((c) => c.isFinal)
}

describe("the live page in headless Chromium, against the daemon fed by the replay exchange", () => {
  const db = scratchDatabase("ingest_page")
  let browser: Browser
  beforeAll(async () => {
    await db.start()
    browser = await launchChromium()
  })
  afterAll(async () => {
    await browser?.close()
    await db.stop()
  })

  it("renders the stored candles, moves the open candle with the trades, and shows a silenced symbol as silent within ALERT_SYMBOL_SILENT_MS; reconnects by itself after a daemon restart", async () => {
    const url = await db.create()
    const server = await ReplayServer.start()
    const httpPort = await freePort()
    const venue = server.venue("binance")
    // Six minutes of history played 30 times faster than real time, then the tape goes on at the pace of the clock.
    const start = Date.now() - HISTORY_MS
    server.play("binance", syntheticTape({ symbols: ["BTC/USDT", "ETH/USDT"], rate: 20, start, seed: 5 }), {
      pace: { mode: "paced", speed: 30 },
    })
    const env = {
      FEEDS: "binance",
      BINANCE_SYMBOLS: "BTC/USDT,ETH/USDT",
      BINANCE_WS_URL: server.url("binance"),
      BINANCE_REST_URL: server.restUrl("binance"),
      DATABASE_URL: url,
      DATA_DIR: mkdtempSync(join(tmpdir(), "ingest-page-")),
      HTTP_PORT: String(httpPort),
      CANDLE_GRACE_MS: "1000",
      ALERT_SYMBOL_SILENT_MS: String(SILENT_MS),
      LIVE_UPDATES_PER_SECOND: "10",
      TRADE_FUTURE_TOLERANCE_MS: "60000",
    }
    let daemon = startDaemon(env, process.cwd())
    const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } })
    const pageErrors: Array<string> = []
    page.on("pageerror", (e) => pageErrors.push(e.message))
    try {
      await until("the daemon to subscribe", () => venue.readyClients() > 0)
      const subscribed = Date.now()
      setTimeout(() => (venue.speed = 1 / 30), (subscribed - start) / 29)
      await until("four final 1m candles stored", async () => (await storedFinals(httpPort, "BTC/USDT")).length >= 4)

      await page.goto(`http://127.0.0.1:${httpPort}/#exchange=binance&symbol=BTC%2FUSDT&timeframe=1m`)
      const stored = await storedFinals(httpPort, "BTC/USDT")
      const chart = page.locator("#chart")
      await until("the stored candles on the chart", async () => {
        const finals = Number(await chart.getAttribute("data-finals"))
        return finals >= stored.length
      })
      expect(Number(await chart.getAttribute("data-first"))).toBe(stored[0]!.openTime)

      // The open candle's close as the page shows it, sampled until it has moved several times.
      const closes = new Set<string>()
      await until(
        "the open candle's close to move",
        async () => {
          const close = await page.locator("#open").getAttribute("data-close")
          if (close !== null && close !== "") closes.add(close)
          return closes.size >= 4
        },
        20_000,
      )

      const row = (symbol: string) => page.locator(`#symbols tr[data-key="binance ${symbol}"]`)
      await until("both symbols trading", async () =>
        (await Promise.all(["BTC/USDT", "ETH/USDT"].map((s) => row(s).getAttribute("data-state")))).every(
          (state) => state === "trading",
        ),
      )
      venue.silence("ETH/USDT", true)
      const silenced = Date.now()
      await until("ETH/USDT shown silent", async () => (await row("ETH/USDT").getAttribute("data-state")) === "silent")
      const shownAfter = Date.now() - silenced
      // The rule's threshold, plus one alert check and one status push, with a second to spare.
      expect(shownAfter).toBeGreaterThanOrEqual(SILENT_MS - 1_000)
      expect(shownAfter).toBeLessThanOrEqual(SILENT_MS + 3_000)
      expect(await row("BTC/USDT").getAttribute("data-state")).toBe("trading")
      await until(
        "the alert listed",
        async () => (await page.locator("#alerts").textContent())?.includes("symbol_silent") === true,
      )
      expect(await page.locator("#connection").getAttribute("data-state")).toBe("live")
      expect(pageErrors).toEqual([])

      mkdirSync(SCREENSHOTS, { recursive: true })
      await page.screenshot({ path: join(SCREENSHOTS, "live-page.png") })

      // The daemon restarts: the page says it lost the connection, then reconnects by itself and moves on.
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
      await until(
        "the page to notice",
        async () => (await page.locator("#connection").getAttribute("data-state")) === "reconnecting",
      )
      expect(await page.locator("#connection").textContent()).toContain("daemon shutting down")
      daemon = startDaemon(env, process.cwd())
      await until(
        "the page reconnected",
        async () => (await page.locator("#connection").getAttribute("data-state")) === "live",
      )
      const before = await page.locator("#open").getAttribute("data-close")
      await until(
        "the open candle moving again",
        async () => (await page.locator("#open").getAttribute("data-close")) !== before,
      )
      expect(pageErrors).toEqual([])
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      await page.close()
      daemon.process.kill("SIGKILL")
      await server.close()
    }
  }, 120_000)
})
