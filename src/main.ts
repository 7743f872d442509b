import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Effect, RuntimeFlags, RuntimeFlagsPatch } from "effect"
import { program } from "./App.js"
import { configFailure } from "./layers/AppConfig.js"

const reportFatal = (cause: Cause.Cause<unknown>) =>
  Cause.isInterruptedOnly(cause)
    ? Effect.void
    : Effect.sync(() => {
        const config = configFailure(cause)
        process.stderr.write(config === undefined ? `ingestd: fatal: ${Cause.pretty(cause)}\n` : `ingestd: ${config}\n`)
      })

NodeRuntime.runMain(
  program.pipe(
    Effect.tapErrorCause(reportFatal),
    // Effect's per-fiber runtime metrics would drown the pipeline's own on /metrics.
    Effect.withRuntimeFlagsPatch(RuntimeFlagsPatch.disable(RuntimeFlags.RuntimeMetrics)),
  ),
  { disableErrorReporting: true, disablePrettyLogger: true },
)
