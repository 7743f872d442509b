import type { RunnerTask, RunnerTestFile } from "vitest"
import { defineConfig } from "vitest/config"

const count = (tasks: ReadonlyArray<RunnerTask>, state: string): number =>
  tasks.reduce((n, t) => n + (t.type === "suite" ? count(t.tasks, state) : t.result?.state === state ? 1 : 0), 0)

/**
 * Files that stop, restart or cut every connection of the machine's RabbitMQ: they run alone, one after another,
 * after the rest (`npm test`: `--project broker-faults --no-file-parallelism`). Every other file has its own
 * databases, vhosts, buckets, ports and data directories, so those run two at a time (`--project isolated`).
 */
const BROKER_FAULTS = [
  "test/integration/Exchanges.test.ts",
  "test/integration/Observability.test.ts",
  "test/integration/SinkIsolation.test.ts",
  "test/layers/Rabbit.test.ts",
]

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: [
      "default",
      {
        // A plain closing line that any CI can read.
        onFinished(files: ReadonlyArray<RunnerTestFile> = []) {
          console.log(`Tests: ${count(files, "pass")} passed, ${count(files, "fail")} failed`)
        },
      },
    ],
    projects: [
      { extends: true, test: { name: "isolated", include: ["test/**/*.test.ts"], exclude: BROKER_FAULTS } },
      { extends: true, test: { name: "broker-faults", include: BROKER_FAULTS } },
    ],
  },
})
