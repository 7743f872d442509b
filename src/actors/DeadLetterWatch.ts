import { Clock, Effect, Metric, Option, Redacted, Ref, Schedule } from "effect"
import { managementRetrySchedule } from "../domain/Schedules.js"
import { deadLetterQueueOf, INGEST_OHLCV_QUEUE, INGEST_SIGNALS_QUEUE, SEED_DLQS } from "../domain/Topology.js"
import { AppConfig } from "../layers/AppConfig.js"
import * as Metrics from "../layers/Metrics.js"
import { Rabbit } from "../layers/Rabbit.js"

/** Every dead-letter queue the daemon declares (its own only where their consumers run); absent ones are skipped. */
const WATCHED: ReadonlyArray<string> = [
  ...SEED_DLQS,
  deadLetterQueueOf(INGEST_SIGNALS_QUEUE),
  deadLetterQueueOf(INGEST_OHLCV_QUEUE),
]

/** A policy or operator policy as the management API lists it (`/api/policies/<vhost>`). */
export interface BrokerPolicy {
  readonly name: string
  readonly pattern: string
  readonly "apply-to": string
  readonly priority: number
  readonly definition: Readonly<Record<string, unknown>>
}

const LENGTH_BOUNDS = ["max-length", "max-length-bytes"]

/** The policy the broker applies to a queue named `queue`: the matching one of highest priority. */
const effectivePolicy = (queue: string, policies: ReadonlyArray<BrokerPolicy>): BrokerPolicy | undefined =>
  policies
    .filter((p) => p["apply-to"] !== "exchanges" && new RegExp(p.pattern).test(queue))
    .reduce<BrokerPolicy | undefined>(
      (best, p) => (best === undefined || p.priority > best.priority ? p : best),
      undefined,
    )

/**
 * Those of `queues` that neither their policy nor an operator policy bounds by length or bytes. A TTL alone is no
 * bound: a burst still fills the broker until its memory or disk alarm blocks every publisher on it. The queues'
 * own arguments are the daemon's declarations, which set no bound (a different declaration would be a conflict).
 */
export const unboundedDeadLetterQueues = (
  queues: ReadonlyArray<string>,
  policies: ReadonlyArray<BrokerPolicy>,
  operatorPolicies: ReadonlyArray<BrokerPolicy>,
): ReadonlyArray<string> =>
  queues
    .filter((q) =>
      [effectivePolicy(q, policies), effectivePolicy(q, operatorPolicies)].every(
        (p) => p === undefined || !LENGTH_BOUNDS.some((k) => k in p.definition),
      ),
    )
    .toSorted()

/** Where the management API is and which vhost to ask about: RABBITMQ_MANAGEMENT_URL, or the AMQP URL's host on 15672. */
export const managementEndpoint = (
  amqpUrl: string,
  override: Option.Option<string>,
): { readonly base: URL; readonly vhost: string } | undefined => {
  try {
    const amqp = new URL(amqpUrl)
    const vhost = amqp.pathname.length > 1 ? decodeURIComponent(amqp.pathname.slice(1)) : "/"
    if (Option.isSome(override)) return { base: new URL(override.value), vhost }
    const base = new URL(`http://${amqp.hostname}:15672`)
    base.username = amqp.username || "guest"
    base.password = amqp.password || "guest"
    return { base, vhost }
  } catch {
    return undefined
  }
}

/**
 * The vhost's policies and operator policies from the management API (read from its configuration, not from the
 * statistics, which lag new queues by seconds); credentials from the URL go in the Authorization header.
 */
const listPolicies = (endpoint: { readonly base: URL; readonly vhost: string }) =>
  Effect.tryPromise({
    try: async (signal) => {
      const get = async (kind: string) => {
        const url = new URL(`/api/${kind}/${encodeURIComponent(endpoint.vhost)}`, endpoint.base)
        // fetch refuses credentials in the URL: they travel in the header.
        const auth = Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`)
        url.username = ""
        url.password = ""
        const res = await fetch(url, {
          headers: { authorization: `Basic ${auth.toString("base64")}` },
          signal: AbortSignal.any([signal, AbortSignal.timeout(5_000)]),
        })
        if (!res.ok) throw new Error(`HTTP ${res.status} from ${url.pathname}`)
        return (await res.json()) as ReadonlyArray<BrokerPolicy>
      }
      return { policies: await get("policies"), operatorPolicies: await get("operator-policies") }
    },
    catch: (e) => (e instanceof Error ? e.message : String(e)),
  })

const withoutCredentials = (u: URL) => `${u.protocol}//${u.host}`

export interface DeadLetterStatus {
  /** Messages in each dead-letter queue at the last read; what a bound drops never shows here, only its ceiling. */
  readonly depths: Readonly<Record<string, number>>
  readonly readAt: string | null
  /** `bounded`, `unbounded` (with the queues) or `unchecked` (the management API did not answer; why). */
  readonly bounds:
    | { readonly state: "pending" }
    | { readonly state: "bounded" }
    | { readonly state: "unbounded"; readonly queues: ReadonlyArray<string> }
    | { readonly state: "unchecked"; readonly reason: string }
}

/**
 * Watches the dead-letter queues: their depths every RABBITMQ_DLQ_POLL_MS (gauge `rabbitmq_dead_letter_messages`,
 * `/api/status`), and once, after the first connection, whether each is bounded, warning about any that is not.
 * Off without a broker.
 */
export class DeadLetterWatch extends Effect.Service<DeadLetterWatch>()("ingestd/DeadLetterWatch", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const rabbit = yield* Rabbit
    const state = yield* Ref.make<DeadLetterStatus>({ depths: {}, readAt: null, bounds: { state: "pending" } })
    if (Option.isNone(rabbit.broker) || Option.isNone(config.rabbitmqUrl))
      return { status: Effect.succeed(Option.none<DeadLetterStatus>()) }
    const broker = rabbit.broker.value
    const endpoint = managementEndpoint(
      Redacted.value(config.rabbitmqUrl.value),
      Option.map(config.rabbitmqManagementUrl, Redacted.value),
    )

    const checkBounds = (queues: ReadonlyArray<string>) =>
      Effect.gen(function* () {
        if (endpoint === undefined) return { state: "unchecked", reason: "RABBITMQ_URL is not a URL" } as const
        const listed = yield* Effect.either(listPolicies(endpoint))
        if (listed._tag === "Left") {
          yield* Effect.logInfo(
            `RabbitMQ management API not reachable at ${withoutCredentials(endpoint.base)} (${listed.left}); the dead-letter queues' bounds are not checked. Enable the rabbitmq_management plugin or set RABBITMQ_MANAGEMENT_URL.`,
          )
          return { state: "unchecked", reason: listed.left } as const
        }
        const unbounded = unboundedDeadLetterQueues(queues, listed.right.policies, listed.right.operatorPolicies)
        if (unbounded.length === 0) return { state: "bounded" } as const
        yield* Effect.logWarning(
          `RabbitMQ: dead-letter queue(s) ${unbounded.join(", ")} in vhost ${endpoint.vhost} have no length or byte bound; dead letters there grow until the broker's memory or disk alarm blocks every publisher. Bound them with a policy: rabbitmqctl set_policy -p ${endpoint.vhost} --apply-to queues dead-letters-bounded '\\.dlq$' '{"max-length":100000,"max-length-bytes":268435456,"overflow":"drop-head","message-ttl":604800000}' (README, "Bounding dead letters").`,
        )
        return { state: "unbounded", queues: unbounded } as const
      })

    const read = Effect.gen(function* () {
      const depths = yield* broker.depths(WATCHED)
      const now = yield* Clock.currentTimeMillis
      for (const [queue, n] of depths) yield* Metric.set(Metric.tagged(Metrics.deadLetterDepth, "queue", queue), n)
      yield* Ref.update(state, (s) => ({
        ...s,
        depths: Object.fromEntries(depths),
        readAt: new Date(now).toISOString(),
      }))
      return depths
    })

    // Each dead-letter queue is checked once, when a read first finds it: the seed's right after the connection
    // declares them, the daemon's own once their consumers have.
    const checked = new Set<string>()
    const unbounded = new Set<string>()
    const poll = Effect.gen(function* () {
      const fresh = [...(yield* read).keys()].filter((q) => !checked.has(q))
      if (fresh.length === 0) return
      for (const q of fresh) checked.add(q)
      const result = yield* checkBounds(fresh)
      if (result.state === "unbounded") for (const q of result.queues) unbounded.add(q)
      const bounds: DeadLetterStatus["bounds"] =
        result.state === "unchecked"
          ? result
          : unbounded.size > 0
            ? { state: "unbounded", queues: [...unbounded].toSorted() }
            : { state: "bounded" }
      yield* Ref.update(state, (s) => ({ ...s, bounds }))
    })

    yield* poll.pipe(
      Effect.retry(managementRetrySchedule),
      Effect.zipRight(
        poll.pipe(
          Effect.catchAll((e) => Effect.logDebug(`dead-letter depths not read: ${e.message}`)),
          Effect.repeat(Schedule.spaced(config.deadLetterPollMs)),
        ),
      ),
      Effect.forkScoped,
    )

    return { status: Effect.map(Ref.get(state), Option.some) }
  }),
}) {}
