import { createWriteStream } from "node:fs"
import { Readable } from "node:stream"
import { pipeline } from "node:stream/promises"
import { Clock, Data, Duration, Effect, Metric } from "effect"
import { restRetrySchedule } from "../domain/Schedules.js"
import type { WeightBudget } from "../domain/WeightBudget.js"
import * as Metrics from "./Metrics.js"

/** The exchange's REST API could not answer now (network, timeout, 5xx); worth another try. */
export class RestUnavailable extends Data.TaggedError("RestUnavailable")<{
  readonly exchange: string
  readonly path: string
  readonly reason: string
}> {
  override get message(): string {
    return `${this.exchange} REST ${this.path}: ${this.reason}`
  }
}

/** The exchange refused the request (4xx other than a rate limit); another try would get the same answer. */
export class RestRejected extends Data.TaggedError("RestRejected")<{
  readonly exchange: string
  readonly path: string
  readonly status: number
  readonly reason: string
}> {
  override get message(): string {
    return `${this.exchange} REST ${this.path} refused (${this.status}): ${this.reason}`
  }
}

/** When the server named no pause with its 429/418, this one is taken. */
const DEFAULT_RETRY_AFTER_MS = 60_000

/** `Retry-After` as seconds or an HTTP date, in milliseconds from `now`. */
export const retryAfterMs = (header: string | null, now: number): number | undefined => {
  if (header === null || header.trim() === "") return undefined
  const seconds = Number(header)
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1_000)
  const date = Date.parse(header)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

export interface RestClientSpec {
  readonly exchange: string
  readonly baseUrl: string
  readonly budget: WeightBudget
  readonly timeout: Duration.Duration
  /** Told of each failed try before it is retried, e.g. to show the failure while retries go on. */
  readonly onRetry?: (error: RestUnavailable) => Effect.Effect<void>
}

/**
 * GET requests to one exchange's REST API inside its rate limit: each request waits (on the Effect clock) until
 * its weight fits the budget, a 429 or 418 pauses every request of this client for the server's Retry-After and
 * is then tried again, and an unavailable API is retried on `restRetrySchedule`. Only refusals fail at once.
 */
export const makeRestClient = (spec: RestClientSpec) => {
  const tagged = <T, I, O>(m: Metric.Metric<T, I, O>) => Metric.tagged(m, "exchange", spec.exchange)

  const reserve = (weight: number) =>
    Effect.gen(function* () {
      while (true) {
        const wait = spec.budget.take(weight, yield* Clock.currentTimeMillis)
        if (wait === 0) return
        yield* Effect.sleep(Duration.millis(wait))
      }
    })

  const once = <A>(
    path: string,
    query: Record<string, string | number>,
    read: (response: Response, unavailable: (reason: string) => RestUnavailable) => Effect.Effect<A, RestUnavailable>,
  ) =>
    Effect.gen(function* () {
      // Appended, not resolved: a base URL may carry a path prefix (a proxy, the replay exchange's /binance).
      const url = new URL(spec.baseUrl + path)
      for (const [k, v] of Object.entries(query)) url.searchParams.set(k, String(v))
      const unavailable = (reason: string) => new RestUnavailable({ exchange: spec.exchange, path, reason })
      const response = yield* Effect.tryPromise({
        try: (signal) => fetch(url, { signal }),
        catch: (e) => unavailable(e instanceof Error ? e.message : String(e)),
      }).pipe(
        Effect.timeoutFail({
          duration: spec.timeout,
          onTimeout: () => unavailable(`no answer within ${Duration.format(spec.timeout)}`),
        }),
      )
      yield* Metric.increment(Metric.tagged(tagged(Metrics.restRequests), "status", String(response.status)))
      if (response.status === 429 || response.status === 418) {
        const now = yield* Clock.currentTimeMillis
        const pause = retryAfterMs(response.headers.get("retry-after"), now) ?? DEFAULT_RETRY_AFTER_MS
        spec.budget.backOff(now + pause)
        yield* Effect.logWarning(
          `${spec.exchange} REST rate limit hit (${response.status}) on ${path}; pausing REST requests for ${Duration.format(Duration.millis(pause))}`,
        )
        return undefined
      }
      if (response.status >= 400) {
        const text = yield* textOf(response, unavailable)
        if (response.status >= 500) return yield* unavailable(`${response.status} ${text.slice(0, 200)}`)
        return yield* new RestRejected({
          exchange: spec.exchange,
          path,
          status: response.status,
          reason: text.slice(0, 200),
        })
      }
      return { body: yield* read(response, unavailable) }
    })

  /** `GET path?query` read by `read`, spending `weight` of the budget per try, retried while it is unavailable. */
  const request = <A>(
    path: string,
    query: Record<string, string | number>,
    weight: number,
    read: (response: Response, unavailable: (reason: string) => RestUnavailable) => Effect.Effect<A, RestUnavailable>,
  ) =>
    Effect.gen(function* () {
      while (true) {
        yield* reserve(weight)
        const answer = yield* once(path, query, read)
        if (answer !== undefined) return answer.body
      }
    }).pipe(
      Effect.tapError((e) =>
        e._tag === "RestUnavailable"
          ? Effect.zipRight(Effect.logWarning(`${e.message}; retrying with backoff`), spec.onRetry?.(e) ?? Effect.void)
          : Effect.void,
      ),
      Effect.retry({ schedule: restRetrySchedule, while: (e) => e._tag === "RestUnavailable" }),
    )

  /** The parsed JSON body of `GET path?query`. */
  const get = (path: string, query: Record<string, string | number>, weight: number) =>
    request(path, query, weight, (response, unavailable) =>
      Effect.flatMap(textOf(response, unavailable), (text) =>
        Effect.try({
          try: () => JSON.parse(text) as unknown,
          catch: () => unavailable(`not JSON: ${text.slice(0, 200)}`),
        }),
      ),
    )

  /**
   * `GET path` streamed into `file` (a download: an archive file), its bytes never held whole in memory. A body cut
   * short is a failed try, retried like any other.
   */
  const download = (path: string, file: string, weight: number) =>
    request(path, {}, weight, (response, unavailable) =>
      Effect.tryPromise({
        try: async () => {
          if (response.body === null) throw new Error("no body")
          await pipeline(Readable.fromWeb(response.body as NodeWebStream), createWriteStream(file))
        },
        catch: (e) => unavailable(`downloading to ${file}: ${e instanceof Error ? e.message : String(e)}`),
      }),
    )

  return { get, download } as const
}

type NodeWebStream = Parameters<typeof Readable.fromWeb>[0]

const textOf = (response: Response, unavailable: (reason: string) => RestUnavailable) =>
  Effect.tryPromise({
    try: () => response.text(),
    catch: (e) => unavailable(`reading the body: ${String(e)}`),
  })
