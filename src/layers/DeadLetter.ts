import { appendFile, mkdir, readdir, stat, unlink } from "node:fs/promises"
import { join } from "node:path"
import { Effect, Metric } from "effect"
import * as Metrics from "./Metrics.js"

export interface DeadLetterOptions {
  /** The sink's name, as in metrics and logs. */
  readonly sink: string
  readonly dir: string
  /** File names are `<prefix>-<ISO time>-<n>.<extension>`, so that name order is age order. */
  readonly prefix: string
  readonly extension: string
  /** A file is closed and the next one started past this size. */
  readonly fileMaxBytes: number
  /** Past this total the oldest files are deleted, each with an error line and a metric. */
  readonly totalMaxBytes: number
}

/**
 * A directory of dead-letter files for what a sink refused for good: rotated by size and capped in total, so a
 * sink that refuses everything (a revoked token) cannot fill the disk, and so that what is given up is said.
 */
export const makeDeadLetter = (opts: DeadLetterOptions) => {
  let current: { readonly file: string; size: number } | undefined
  let seq = 0

  const enforceCap = async (): Promise<Array<{ file: string; bytes: number }>> => {
    const names = (await readdir(opts.dir)).filter((n) => n.startsWith(`${opts.prefix}-`)).sort()
    const sizes = await Promise.all(
      names.map(async (n) => ({ file: join(opts.dir, n), bytes: (await stat(join(opts.dir, n))).size })),
    )
    let total = sizes.reduce((n, f) => n + f.bytes, 0)
    const deleted: Array<{ file: string; bytes: number }> = []
    for (const f of sizes) {
      if (total <= opts.totalMaxBytes || f.file === current?.file) break
      await unlink(f.file)
      total -= f.bytes
      deleted.push(f)
    }
    return deleted
  }

  /** Appends `text` (whole records, newline-terminated) and returns the file it went to. */
  const append = (text: string) =>
    Effect.tryPromise(async () => {
      const bytes = Buffer.byteLength(text)
      if (current === undefined || (current.size > 0 && current.size + bytes > opts.fileMaxBytes)) {
        await mkdir(opts.dir, { recursive: true })
        const at = new Date().toISOString().replace(/[:.]/g, "-")
        current = { file: join(opts.dir, `${opts.prefix}-${at}-${seq++}.${opts.extension}`), size: 0 }
      }
      await appendFile(current.file, text)
      current.size += bytes
      return { file: current.file, deleted: await enforceCap() }
    }).pipe(
      Effect.tap(({ deleted }) =>
        Effect.forEach(deleted, (d) =>
          Effect.zipRight(
            Effect.logError(
              `dead-letter directory ${opts.dir} is over its ${opts.totalMaxBytes} byte limit: deleted ${d.file} (${d.bytes} bytes of refused ${opts.sink} data)`,
            ),
            Metric.incrementBy(Metric.tagged(Metrics.deadLetterDiscardedBytes, "sink", opts.sink), d.bytes),
          ),
        ),
      ),
      Effect.map(({ file }) => file),
    )

  return { append } as const
}

export type DeadLetter = ReturnType<typeof makeDeadLetter>
