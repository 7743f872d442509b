import { createHash } from "node:crypto"
import { createReadStream } from "node:fs"
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises"
import { dirname, join } from "node:path"
import { pipeline, type Readable } from "node:stream"
import { parse } from "csv-parse"
import { Duration, Effect, type Scope, Stream } from "effect"
import yauzl from "yauzl"
import { WeightBudget } from "../../domain/WeightBudget.js"
import type { VenueCandle } from "../../domain/Reconciliation.js"
import { type Archive, checksumOf } from "../../exchanges/Archive.js"
import { makeRestClient } from "../../layers/Rest.js"
import type { Trade } from "../../schema/Market.js"
import { type Day, type DaySource, DayUnreadable } from "./DaySource.js"

const failed = (file: string, reason: string) => (cause: unknown) =>
  new DayUnreadable({
    what: file,
    reason: `${reason}: ${cause instanceof Error ? cause.message : String(cause)}`,
    cause,
  })

const sha256 = (file: string) =>
  Effect.async<string, DayUnreadable>((resume) => {
    const hash = createHash("sha256")
    const stream = createReadStream(file)
    stream.on("data", (chunk) => hash.update(chunk))
    stream.on("error", (e) => resume(Effect.fail(failed(file, "cannot read it")(e))))
    stream.on("end", () => resume(Effect.succeed(hash.digest("hex"))))
    return Effect.sync(() => stream.destroy())
  })

/**
 * The archive file at `root/path`, checked against the SHA-256 in the `.CHECKSUM` beside it; its full path.
 * A missing file, a missing or unreadable `.CHECKSUM` and a different hash each fail naming the file.
 */
export const verifiedFile = (root: string, path: string) =>
  Effect.gen(function* () {
    const file = join(root, path)
    yield* Effect.tryPromise({ try: () => stat(file), catch: failed(file, "missing") })
    const listed = yield* Effect.tryPromise({
      try: () => readFile(`${file}.CHECKSUM`, "utf8"),
      catch: failed(`${file}.CHECKSUM`, "missing"),
    })
    const expected = checksumOf(listed)
    if (expected === undefined)
      return yield* new DayUnreadable({ what: `${file}.CHECKSUM`, reason: "names no SHA-256" })
    const actual = yield* sha256(file)
    if (actual !== expected)
      return yield* new DayUnreadable({
        what: file,
        reason: `SHA-256 ${actual} differs from ${expected} in its .CHECKSUM: a corrupt or partial download`,
      })
    return file
  })

/** Where an archive's files come from. */
export interface ArchiveSource {
  /**
   * The file at `path` (relative to the archive's root), on local disk and checked against its `.CHECKSUM`. A
   * downloaded file is deleted when the scope closes.
   */
  readonly file: (path: string) => Effect.Effect<string, DayUnreadable, Scope.Scope>
}

export const directorySource = (root: string): ArchiveSource => ({ file: (path) => verifiedFile(root, path) })

/** Requests a minute to an archive's web server: Binance publishes no limit for data.binance.vision; stay polite. */
const ARCHIVE_REQUESTS_PER_MINUTE = 600

/**
 * An archive under a base URL (data.binance.vision, a mirror, the replay exchange): each file and its `.CHECKSUM`
 * downloaded through the REST client the feeds use (request budget, Retry-After, retries with backoff) into a
 * scratch directory under `downloads`, then checked like a local one.
 */
export const urlSource = (baseUrl: string, downloads: string, exchange: string): ArchiveSource => {
  const client = makeRestClient({
    exchange,
    baseUrl: baseUrl.replace(/\/+$/, ""),
    budget: new WeightBudget(ARCHIVE_REQUESTS_PER_MINUTE, 60_000),
    timeout: Duration.minutes(5),
  })
  const fetch = (dir: string, path: string) =>
    Effect.gen(function* () {
      const local = join(dir, path)
      yield* Effect.promise(() => mkdir(dirname(local), { recursive: true }))
      yield* client.download(`/${path}`, local, 1).pipe(
        Effect.mapError(
          (e) =>
            new DayUnreadable({
              what: `${baseUrl}/${path}`,
              reason: e._tag === "RestRejected" ? `not served (HTTP ${e.status})` : `not downloaded: ${e.reason}`,
              cause: e,
            }),
        ),
      )
    })
  return {
    file: (path) =>
      Effect.gen(function* () {
        const dir = yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              await mkdir(downloads, { recursive: true })
              return await mkdtemp(join(downloads, "day-"))
            },
            catch: failed(downloads, "cannot make a download directory"),
          }),
          (d) => Effect.promise(() => rm(d, { recursive: true, force: true })),
        )
        yield* fetch(dir, path)
        yield* fetch(dir, `${path}.CHECKSUM`)
        return yield* verifiedFile(dir, path)
      }),
  }
}

/** The first CSV entry of a ZIP file, as a stream of its bytes, inflated as it is read. */
const openCsvEntry = (file: string) =>
  Effect.async<Readable, DayUnreadable>((resume) => {
    yauzl.open(file, { lazyEntries: true, autoClose: true }, (error, zip) => {
      if (error !== null) return resume(Effect.fail(failed(file, "not a readable ZIP")(error)))
      zip.on("error", (e) => resume(Effect.fail(failed(file, "not a readable ZIP")(e))))
      zip.on("end", () => resume(Effect.fail(new DayUnreadable({ what: file, reason: "holds no CSV file" }))))
      zip.on("entry", (entry: yauzl.Entry) => {
        if (!entry.fileName.toLowerCase().endsWith(".csv")) return zip.readEntry()
        zip.openReadStream(entry, (e, stream) =>
          e === null
            ? resume(Effect.succeed(stream))
            : resume(Effect.fail(failed(file, `cannot inflate ${entry.fileName}`)(e))),
        )
      })
      zip.readEntry()
    })
  })

/** The CSV parser over `entry`; an error of the inflating stream (corrupt data) ends the parser with it. */
const parsed = (entry: Readable) => {
  const parser = parse({ relax_column_count: true, skip_empty_lines: true })
  pipeline(entry, parser, (error) => {
    if (error) parser.destroy(error)
  })
  return parser
}

/** Items of `rows` in arrays of `size`, so the work per row stays plain code and effects run once per batch. */
export async function* batches<A>(rows: AsyncIterable<A>, size: number) {
  let batch: Array<A> = []
  for await (const row of rows) {
    batch.push(row)
    if (batch.length >= size) {
      yield batch
      batch = []
    }
  }
  if (batch.length > 0) yield batch
}

/**
 * The rows of the CSV inside a ZIP, streamed (inflated and parsed as they are read, never whole in memory) in
 * batches of `size`, so the work per row stays plain code and the effects run once per batch.
 */
export const csvRows = (file: string, size = 4_096) =>
  Stream.unwrapScoped(
    Effect.map(
      Effect.acquireRelease(openCsvEntry(file), (s) => Effect.sync(() => s.destroy())),
      (entry) => Stream.fromAsyncIterable(batches(parsed(entry), size), failed(file, "cannot read its CSV")),
    ),
  )

/** Days from an exchange's archive: the trades file's rows as trades, the klines file's as the exchange's candles. */
export const archiveDays = (source: ArchiveSource, archive: Archive): DaySource => ({
  name: "archive",
  trades: (day: Day) =>
    Stream.unwrapScoped(
      Effect.map(source.file(archive.tradesPath(day.instrument, day.day)), (file) => {
        let line = 0
        return csvRows(file).pipe(
          Stream.mapEffect((rows) => {
            const now = Date.now()
            const trades: Array<Trade> = []
            for (const row of rows) {
              line++
              const t = archive.trade(row, day.symbol, now)
              if (t === undefined) continue
              if (typeof t === "string")
                return Effect.fail(new DayUnreadable({ what: file, reason: `line ${line}: ${t}` }))
              trades.push(t)
            }
            return Effect.succeed(trades)
          }),
        )
      }),
    ),
  klines: (day: Day) =>
    Effect.gen(function* () {
      const file = yield* source.file(archive.klinesPath(day.instrument, day.day))
      const theirs = new Map<number, VenueCandle>()
      yield* csvRows(file).pipe(
        Stream.runForEach((rows) =>
          Effect.suspend(() => {
            for (const row of rows) {
              const k = archive.kline(row)
              if (k === undefined) continue
              if (typeof k === "string") return Effect.fail(new DayUnreadable({ what: file, reason: k }))
              theirs.set(k.openTime, k)
            }
            return Effect.void
          }),
        ),
      )
      return theirs
    }),
})
