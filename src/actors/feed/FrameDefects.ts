import { join } from "node:path"
import { Cause, Clock, Effect } from "effect"
import { preview } from "../../domain/Limits.js"
import { makeDeadLetter } from "../../layers/DeadLetter.js"
import { defectText } from "../../layers/Logging.js"
import type { ExchangeId } from "../../schema/Market.js"
import type { InboundFrame } from "./Socket.js"

/** Frames a minute that are written to disk and logged in full; the rest are only counted. */
const SAMPLE_PER_MINUTE = 20
/** Characters of a frame kept in its dead-letter record (frames are at most 1 MiB). */
const FRAME_CHARS = 64 * 1024

/**
 * Where a frame that exposed a defect goes. It is counted by the router (`frames_rejected_total{reason="defect"}`);
 * here, a sample of at most SAMPLE_PER_MINUTE a minute is written with its error to
 * `DATA_DIR/frames-deadletter/<exchange>-….jsonl` (rotated and capped) and logged with the error's message and
 * stack, so that a flood of bad frames can neither fill the disk nor the log.
 */
export const makeFrameDefects = (exchange: ExchangeId, dataDir: string) => {
  const deadLetter = makeDeadLetter({
    sink: `frames:${exchange}`,
    dir: join(dataDir, "frames-deadletter"),
    prefix: exchange,
    extension: "jsonl",
    fileMaxBytes: 1 << 20,
    totalMaxBytes: 16 << 20,
  })
  let windowStart = Number.NEGATIVE_INFINITY
  let sampled = 0
  let unsampled = 0

  return (frame: InboundFrame, error: unknown): Effect.Effect<void> =>
    Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      if (now - windowStart >= 60_000) {
        if (unsampled > 0)
          yield* Effect.logError(
            `${exchange}: ${unsampled} more frame(s) exposed a defect in the last minute (counted, not sampled)`,
          )
        windowStart = now
        sampled = 0
        unsampled = 0
      }
      if (sampled >= SAMPLE_PER_MINUTE) {
        unsampled++
        return
      }
      sampled++
      const what = defectText(error)
      const record = {
        at: new Date(now).toISOString(),
        exchange,
        recvTs: frame.recvTs,
        error: what,
        stack: error instanceof Error ? error.stack : undefined,
        frame: frame.raw.length > FRAME_CHARS ? frame.raw.slice(0, FRAME_CHARS) : frame.raw,
      }
      const file = yield* deadLetter
        .append(`${JSON.stringify(record)}\n`)
        .pipe(
          Effect.catchAll((e) =>
            Effect.as(
              Effect.logError(`${exchange}: cannot write the frame dead-letter under ${dataDir}: ${defectText(e)}`),
              undefined,
            ),
          ),
        )
      yield* Effect.logError(
        `${exchange}: a frame exposed a defect and was set aside; the connection carries on. ${what}; frame starts ${preview(frame.raw)}${file === undefined ? "" : `; saved to ${file}`}`,
        Cause.die(error),
      )
    })
}
