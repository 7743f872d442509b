import type { RunnerTask, RunnerTestFile } from "vitest"
import { BaseSequencer, type TestSpecification } from "vitest/node"
import { defineConfig } from "vitest/config"

const count = (tasks: ReadonlyArray<RunnerTask>, state: string): number =>
  tasks.reduce((n, t) => n + (t.type === "suite" ? count(t.tasks, state) : t.result?.state === state ? 1 : 0), 0)

/**
 * Files that stop, restart or cut every connection of a RabbitMQ node: they run one after another on a node of
 * their own (FAULT_BROKER, scripts/services.sh), beside the rest (scripts/test-suite.sh). Every other file has its
 * own databases, vhosts, buckets, ports and data directories on the main services, so those run side by side.
 */
const BROKER_FAULTS = [
  "test/integration/Exchanges.test.ts",
  "test/integration/Observability.test.ts",
  "test/integration/SinkIsolation.test.ts",
  "test/layers/Rabbit.test.ts",
]

/**
 * The files that take longest, longest first: started at once, they end before the short ones instead of after
 * them. The soak and the demo mostly wait (5 and 3 minutes of slow paced streams): each takes a worker, not a core.
 */
const LONGEST_FIRST = [
  "test/integration/Demo.test.ts",
  "test/integration/SharedBroker.test.ts",
  "test/integration/SinkIsolation.test.ts",
  "test/integration/HostileFrames.test.ts",
  "test/integration/Backfill.test.ts",
  "test/integration/Influx.test.ts",
  "test/integration/Exchanges.test.ts",
  "test/integration/RedisQuotes.test.ts",
  "test/integration/LiveEndpoint.test.ts",
  // Four daemons at once: not beside the demo, whose embedded database then starts too slowly.
  "test/integration/Fleet.test.ts",
]

class LongestFirst extends BaseSequencer {
  override async sort(files: Array<TestSpecification>): Promise<Array<TestSpecification>> {
    const rank = (f: TestSpecification) => {
      const i = LONGEST_FIRST.findIndex((name) => f.moduleId.endsWith(name))
      return i < 0 ? LONGEST_FIRST.length : i
    }
    const sorted = await super.sort(files)
    return sorted
      .map((f, i) => ({ f, i }))
      .sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i)
      .map(({ f }) => f)
  }
}

export default defineConfig({
  test: {
    testTimeout: 60_000,
    sequence: { sequencer: LongestFirst },
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
