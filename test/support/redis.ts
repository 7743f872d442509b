import { type ChildProcess, spawn } from "node:child_process"
import { Redis } from "ioredis"
import { until } from "./daemon.js"

/** A redis-server of the test's own, so that stopping it leaves the machine's alone. */
export const startRedis = async (port: number): Promise<ChildProcess> => {
  const server = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: "ignore",
    },
  )
  const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => 100, maxRetriesPerRequest: 0 })
  probe.on("error", () => undefined)
  await until(
    "redis-server up",
    () =>
      probe.ping().then(
        () => true,
        () => false,
      ),
    10_000,
  )
  probe.disconnect()
  return server
}

export const stopRedis = (server: ChildProcess) =>
  new Promise<void>((resolve) => {
    server.once("exit", () => resolve())
    server.kill("SIGKILL")
  })
