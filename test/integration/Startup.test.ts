import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { freePort, startDaemon, until } from "../support/daemon.js"

describe("starting the daemon", () => {
  const dirs: Array<string> = []
  const workDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "ingest-start-"))
    dirs.push(dir)
    return dir
  }
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  })

  it("runs on its embedded defaults, serves /healthz and keeps retrying an unreachable exchange with backoff", async () => {
    const port = await freePort()
    const closed = await freePort()
    // Everything else at its default: Binance BTC/USDT and ETH/USDT into the embedded store under ./data.
    // The exchange is a closed local port so the test is the same with or without internet access.
    const daemon = startDaemon({ HTTP_PORT: String(port), BINANCE_WS_URL: `ws://127.0.0.1:${closed}` }, workDir())
    try {
      await until(
        "/healthz",
        async () => (await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined))?.ok === true,
      )
      await until("three reconnect attempts", () => (daemon.output().match(/reconnecting in/g) ?? []).length >= 3)
      const delays = [...daemon.output().matchAll(/reconnecting in ([\d.]+)(ms|s)/g)].map((m) =>
        m[2] === "s" ? Number(m[1]) * 1000 : Number(m[1]),
      )
      expect(delays[2]!).toBeGreaterThan(delays[0]!)
      const ready = (await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as {
        components: Record<string, { state: string }>
      }
      expect(ready.components["feed:binance"]?.state).toBe("backoff")
      expect(ready.components["store:postgres"]?.state).toBe("up")
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      daemon.process.kill("SIGKILL")
    }
  }, 60_000)

  it("refuses an invalid variable with one line naming it, and exits non-zero", async () => {
    const daemon = startDaemon({ HTTP_PORT: "eighty", CANDLE_EMPTY: "zero" }, workDir())
    expect(await daemon.exit).toBe(1)
    const lines = daemon.output().trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/HTTP_PORT/)
    expect(lines[0]).toMatch(/CANDLE_EMPTY/)
  }, 30_000)

  it("refuses CANDLE_SINK=queue without RABBITMQ_URL in one line", async () => {
    const port = await freePort()
    const daemon = startDaemon({ CANDLE_SINK: "queue", HTTP_PORT: String(port) }, workDir())
    expect(await daemon.exit).toBe(1)
    expect(daemon.output()).toContain("CANDLE_SINK=queue needs RABBITMQ_URL")
  }, 60_000)
})
