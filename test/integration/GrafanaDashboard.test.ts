import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { syntheticTape } from "../../src/replay/Tape.js"
import { freePort, startDaemon, until } from "../support/daemon.js"

const DASHBOARD = "grafana/dashboards/neuraltrade-ingest.json"

interface Panel {
  readonly type: string
  readonly title: string
  readonly datasource?: { readonly uid: string }
  readonly targets?: ReadonlyArray<{ readonly expr: string }>
}

const KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
])

/** The metric names a PromQL expression reads: what is left once label sets, ranges, groupings and calls are gone. */
export const metricNames = (expr: string): Array<string> => {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, "")
    .replace(/\{[^}]*\}/g, "")
    .replace(/\[[^\]]*\]/g, "")
    .replace(/\b(?:by|without|on|ignoring)\s*\([^)]*\)/g, "")
  const names: Array<string> = []
  for (const m of bare.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const after = bare.slice(m.index + m[0].length)
    if (/^\s*\(/.test(after) || KEYWORDS.has(m[0])) continue
    names.push(m[0])
  }
  return names
}

/** The families a scrape declares, with their types. */
const families = (scrape: string) =>
  new Map(
    scrape
      .split("\n")
      .filter((l) => l.startsWith("# TYPE "))
      .map((l) => {
        const [, , name, type] = l.split(" ")
        return [name!, type!] as const
      }),
  )

/** Whether `name` is a series of a family: its own name, or a histogram's `_bucket`, `_sum` or `_count`. */
const served = (declared: ReadonlyMap<string, string>, name: string) => {
  if (declared.has(name)) return true
  const base = name.replace(/_(bucket|sum|count)$/, "")
  return base !== name && declared.get(base) === "histogram"
}

describe("the Grafana dashboard (docker compose --profile metrics)", () => {
  it("reads out every PromQL name correctly", () => {
    expect(
      metricNames('histogram_quantile(0.99, sum by (le, sink) (rate(end_to_end_latency_ms_bucket{sink="x"}[5m])))'),
    ).toEqual(["end_to_end_latency_ms_bucket"])
    expect(metricNames("max by (actor) (mailbox_depth / mailbox_capacity)")).toEqual([
      "mailbox_depth",
      "mailbox_capacity",
    ])
  })

  it("is valid JSON provisioned beside Prometheus, and every metric its queries name is one the daemon's /metrics serves", async () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { uid: string; panels: ReadonlyArray<Panel> }
    const queryPanels = dashboard.panels.filter((p) => p.type !== "row")
    expect(queryPanels.length).toBeGreaterThanOrEqual(15)
    const datasource = readFileSync("grafana/provisioning/datasources/prometheus.yml", "utf8")
    for (const p of queryPanels) {
      expect(p.targets?.length, p.title).toBeGreaterThan(0)
      expect(datasource).toContain(`uid: ${p.datasource?.uid}`)
    }
    const compose = readFileSync("docker-compose.yml", "utf8")
    for (const mount of compose.matchAll(/- \.\/(grafana\/[^:]+):/g)) expect(existsSync(mount[1]!), mount[1]).toBe(true)
    expect(readFileSync("grafana/provisioning/dashboards/neuraltrade.yml", "utf8")).toContain(
      "path: /var/lib/grafana/dashboards",
    )

    const server = await ReplayServer.start()
    server.play("binance", syntheticTape({ symbols: ["BTC/USDT"], rate: 50, count: 500, start: Date.now() - 60_000 }))
    const httpPort = await freePort()
    const dataDir = mkdtempSync(join(tmpdir(), "ingest-grafana-"))
    const daemon = startDaemon(
      {
        FEEDS: "binance",
        BINANCE_SYMBOLS: "BTC/USDT",
        BINANCE_WS_URL: server.url("binance"),
        BINANCE_REST_URL: server.restUrl("binance"),
        HTTP_PORT: String(httpPort),
        DATA_DIR: dataDir,
      },
      process.cwd(),
    )
    try {
      const scrape = async () =>
        fetch(`http://127.0.0.1:${httpPort}/metrics`).then(
          (r) => r.text(),
          () => "",
        )
      await until(
        "the first trades on /metrics",
        async () => (await scrape()).includes("trades_received_total{"),
        60_000,
      )
      const declared = families(await scrape())
      const missing = queryPanels.flatMap((p) =>
        p.targets!.flatMap((t) =>
          metricNames(t.expr)
            .filter((n) => !served(declared, n))
            .map((n) => `${p.title}: ${n}`),
        ),
      )
      expect(missing).toEqual([])
      daemon.process.kill("SIGTERM")
      expect(await daemon.exit).toBe(0)
    } finally {
      daemon.process.kill("SIGKILL")
      await server.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})
