import { HttpError, InfluxDB, setLogger } from "@influxdata/influxdb-client"
import { Data, Duration, Effect, Option, Redacted, Runtime } from "effect"
import { AppConfig } from "./AppConfig.js"

/** InfluxDB could not take the write now (network, timeout, 429, 5xx); the same write will succeed later. */
export class InfluxUnavailable extends Data.TaggedError("InfluxUnavailable")<{
  readonly status: number | undefined
  readonly reason: string
  /** From a Retry-After header, when the server sent one. */
  readonly retryAfterMs: number | undefined
}> {}

/** InfluxDB refused the lines (400, 401, 403, 404, 413, 422): sending them again as they are cannot help. */
export class InfluxRejected extends Data.TaggedError("InfluxRejected")<{
  readonly status: number
  readonly reason: string
}> {}

/** What an operator does about a refusal, for the one log line that reports it. */
export const rejectionHint = (status: number): string => {
  switch (status) {
    case 401:
    case 403:
      return "check INFLUX_TOKEN and its write permission on the bucket"
    case 404:
      return "check that INFLUX_ORG and INFLUX_BUCKET exist"
    case 413:
      return "a single line is larger than the server accepts"
    default:
      return "the lines do not fit the bucket's schema or syntax"
  }
}

const classify = (e: unknown): InfluxUnavailable | InfluxRejected => {
  if (e instanceof HttpError) {
    const reason = `${e.statusCode} ${e.body && e.json === undefined ? e.body : (e.json?.message ?? e.message)}`
    if (e.statusCode === 429 || e.statusCode >= 500) {
      const retryAfter = e.retryAfter()
      return new InfluxUnavailable({
        status: e.statusCode,
        reason,
        retryAfterMs: retryAfter > 0 ? retryAfter : undefined,
      })
    }
    return new InfluxRejected({ status: e.statusCode, reason })
  }
  return new InfluxUnavailable({
    status: undefined,
    reason: e instanceof Error ? e.message : String(e),
    retryAfterMs: undefined,
  })
}

/** One connection's write path; the caller owns batching, so one write is in flight at a time. */
export interface InfluxTarget {
  /** Lines at nanosecond precision, sent as one request (gzipped past 1 KiB when INFLUX_GZIP is on). */
  readonly write: (lines: ReadonlyArray<string>) => Effect.Effect<void, InfluxUnavailable | InfluxRejected>
}

/**
 * The InfluxDB client, when INFLUX_URL is set. Writes go through its transport (authentication, timeout, gzip,
 * errors with Retry-After), not its write API: the sinks batch already, and the write API's batching, timer and
 * retry buffer drop lines silently when its retries or buffer run out, and re-buffering each line was 4 % of the
 * daemon's CPU profile at 20,000 ticks/s. So a write is exactly one request whose outcome the caller sees.
 */
export class Influx extends Effect.Service<Influx>()("ingestd/Influx", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    if (Option.isNone(config.influx)) return { target: Option.none<InfluxTarget>() }
    const settings = config.influx.value
    const runtime = yield* Effect.runtime<never>()
    // The client would print to the console on its own; its messages go through the daemon's logger instead.
    setLogger({
      error: (message, error) => Runtime.runFork(runtime)(Effect.logError(`influxdb-client: ${message}`, error)),
      warn: (message, error) => Runtime.runFork(runtime)(Effect.logWarning(`influxdb-client: ${message}`, error)),
    })
    const client = new InfluxDB({
      url: settings.url,
      ...(Option.isSome(settings.token) ? { token: Redacted.value(settings.token.value) } : {}),
      timeout: Duration.toMillis(settings.timeout),
    })
    const path = `/api/v2/write?org=${encodeURIComponent(settings.org)}&bucket=${encodeURIComponent(settings.bucket)}&precision=ns`
    const options = {
      method: "POST",
      headers: { "content-type": "text/plain; charset=utf-8" },
      // The client gzips with async zlib, one event-loop turn per 16 KiB of output: on a busy daemon a 20k-line
      // batch then took seconds instead of 0.2 s and the sink fell behind. A LAN has bandwidth to spare; the
      // daemon's loop does not.
      gzipThreshold: settings.gzip ? 1024 : Number.POSITIVE_INFINITY,
    }
    const target: InfluxTarget = {
      write: (lines) =>
        lines.length === 0
          ? Effect.void
          : Effect.tryPromise({
              try: () => client.transport.request(path, lines.join("\n"), options) as Promise<unknown>,
              catch: classify,
            }),
    }
    yield* Effect.logInfo(`InfluxDB sink on ${settings.url}, org ${settings.org}, bucket ${settings.bucket}`)
    return { target: Option.some(target) }
  }),
}) {}
