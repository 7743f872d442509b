import type { RunnerTask, RunnerTestFile } from "vitest"
import { defineConfig } from "vitest/config"

const count = (tasks: ReadonlyArray<RunnerTask>, state: string): number =>
  tasks.reduce((n, t) => n + (t.type === "suite" ? count(t.tasks, state) : t.result?.state === state ? 1 : 0), 0)

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration suites start daemon processes and share the local PostgreSQL; run files one at a time on 2 cores.
    fileParallelism: false,
    reporters: [
      "default",
      {
        // A plain closing line that any CI can read.
        onFinished(files: ReadonlyArray<RunnerTestFile> = []) {
          console.log(`Tests: ${count(files, "pass")} passed, ${count(files, "fail")} failed`)
        },
      },
    ],
  },
})
