import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const freePort = () =>
  new Promise<number>((resolve) => {
    const srv = createServer()
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })

/** Polls in real time; the daemon under test is another process. */
export const until = async (what: string, condition: () => boolean | Promise<boolean>, ms = 30_000, everyMs = 100) => {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, everyMs))
  }
}

/** A sample's value on the daemon's /metrics: the first line of `name` carrying every label in `labels`; 0 when none. */
export const metric = async (httpPort: number, name: string, labels: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && labels.split(",").every((x) => l.includes(x)))
  return line === undefined ? 0 : Number(line.split(" ").at(-1))
}

export interface Daemon {
  readonly process: ChildProcess
  readonly output: () => string
  readonly exit: Promise<number | null>
}

/** `node dist/main.js` with only PATH and the given variables in its environment. */
export const startDaemon = (env: Record<string, string>, cwd: string, nodeArgs: ReadonlyArray<string> = []): Daemon => {
  const child = spawn(process.execPath, [...nodeArgs, join(process.cwd(), "dist/main.js")], {
    cwd,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  const collect = (d: Buffer) => {
    output += d.toString()
  }
  child.stdout.on("data", collect)
  child.stderr.on("data", collect)
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  return { process: child, output: () => output, exit }
}

export interface Replay {
  readonly env: Record<string, string>
  readonly stop: () => Promise<void>
}

/** `node dist/replay.js` on a free port; resolves with the environment it prints for the daemon. */
export const startReplay = async (
  args: ReadonlyArray<string>,
  nodeArgs: ReadonlyArray<string> = [],
): Promise<Replay> => {
  const port = await freePort()
  const script = join(process.cwd(), "dist/replay.js")
  const child = spawn(process.execPath, [...nodeArgs, script, "--port", String(port), ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  })
  let output = ""
  child.stdout.on("data", (d: Buffer) => (output += d.toString()))
  child.stderr.on("data", (d: Buffer) => (output += d.toString()))
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
  const line = await Promise.race([
    until("the replay's environment line", () => /FEEDS=\S+.*node dist\/main\.js/.test(output), 10_000).then(() =>
      output.split("\n").find((l) => l.includes("FEEDS="))!,
    ),
    exited.then((code) => {
      throw new Error(`replay exited with ${code}: ${output}`)
    }),
  ])
  const env = Object.fromEntries(
    line
      .trim()
      .split(/\s+/)
      .filter((w) => w.includes("="))
      .map((w) => w.split("=", 2) as [string, string]),
  )
  return {
    env,
    stop: async () => {
      child.kill("SIGTERM")
      await exited
    },
  }
}

export interface ReplayDaemon {
  readonly daemon: Daemon
  readonly httpPort: number
  readonly dataDir: string
}

/**
 * A daemon on a replay server's Binance (`symbols`), writing to PostgreSQL at `databaseUrl`, with an HTTP port and
 * a data directory of its own, a 1 s grace, no reconciliation and 100 ms store flushes; `env` adds or overrides.
 */
export const binanceReplayDaemon = async (
  server: { url(exchange: "binance"): string; restUrl(exchange: "binance"): string },
  databaseUrl: string,
  symbols: ReadonlyArray<string>,
  env: Record<string, string> = {},
): Promise<ReplayDaemon> => {
  const dataDir = mkdtempSync(join(tmpdir(), "ingest-replay-daemon-"))
  const httpPort = await freePort()
  const daemon = startDaemon(
    {
      FEEDS: "binance",
      BINANCE_SYMBOLS: symbols.join(","),
      BINANCE_WS_URL: server.url("binance"),
      BINANCE_REST_URL: server.restUrl("binance"),
      DATABASE_URL: databaseUrl,
      HTTP_PORT: String(httpPort),
      DATA_DIR: dataDir,
      CANDLE_GRACE_MS: "1000",
      RECONCILE_INTERVAL_MS: "0",
      STORE_FLUSH_MS: "100",
      ...env,
    },
    process.cwd(),
  )
  return { daemon, httpPort, dataDir }
}
