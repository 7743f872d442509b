import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect, Metric, Option, Ref, type Scope } from "effect"
import * as Metrics from "./Metrics.js"

/** Lifecycle of an actor, a feed connection or a sink, as /readyz and /api report it. */
export type ComponentState =
  "starting" | "running" | "restarting" | "failed" | "stopped" | "connecting" | "connected" | "backoff" | "up" | "down"

const READY: ReadonlySet<ComponentState> = new Set(["running", "connected", "up", "backoff", "connecting"])

export interface ComponentHealth {
  readonly state: ComponentState
  readonly detail?: string
  readonly since: number
}

export interface HealthReport {
  readonly ready: boolean
  readonly components: Record<string, ComponentHealth>
  readonly unhealthy: ReadonlyArray<string>
}

/**
 * Registry of every component's state. Feeds count as ready while connecting or in backoff because that is their
 * bounded, self-healing normal; an actor that failed for good or a sink that is down is not.
 */
export class Health extends Effect.Service<Health>()("ingestd/Health", {
  scoped: Effect.gen(function* () {
    // How late the event loop ran, between scrapes: every socket's data, broker confirm and InfluxDB response waits
    // that long to be read. At 30,000 trades/s with every sink on it was what stretched the sinks' write cycles.
    const loopDelay = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const h = monitorEventLoopDelay({ resolution: 10 })
        h.enable()
        return h
      }),
      (h) => Effect.sync(() => h.disable()),
    )
    const components = yield* Ref.make(new Map<string, ComponentHealth>())
    const set = (name: string, state: ComponentState, detail?: string) =>
      Effect.clockWith((c) => c.currentTimeMillis).pipe(
        Effect.flatMap((since) =>
          Ref.update(components, (m) => {
            const prev = m.get(name)
            if (prev?.state === state && prev.detail === detail) return m
            const next = new Map(m)
            next.set(name, detail === undefined ? { state, since } : { state, detail, since })
            return next
          }),
        ),
      )
    /** Drops a component that no longer exists here (a symbol handed to another fleet member), not one that failed. */
    const forget = (name: string) =>
      Ref.update(components, (m) => {
        if (!m.has(name)) return m
        const next = new Map(m)
        next.delete(name)
        return next
      })
    const report = Ref.get(components).pipe(
      Effect.map((m): HealthReport => {
        const unhealthy = [...m].filter(([, h]) => !READY.has(h.state)).map(([n]) => n)
        return { ready: unhealthy.length === 0, components: Object.fromEntries(m), unhealthy }
      }),
    )
    const mailboxes = new Map<string, { readonly size: () => Option.Option<number>; readonly capacity: number }>()
    /** Reports an actor's mailbox depth on /metrics while the caller's scope is open. */
    const watchMailbox = (
      actor: string,
      mailbox: { readonly unsafeSize: () => Option.Option<number> },
      capacity: number,
    ): Effect.Effect<void, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const watched = { size: () => mailbox.unsafeSize(), capacity }
          mailboxes.set(actor, watched)
          return watched
        }),
        // A replacement under the same name (a rotated connection) may have registered meanwhile: keep it.
        (watched) =>
          mailboxes.get(actor) === watched
            ? Effect.zipRight(
                Effect.sync(() => mailboxes.delete(actor)),
                Metric.set(Metric.tagged(Metrics.mailboxDepth, "actor", actor), 0),
              )
            : Effect.void,
      ).pipe(Effect.asVoid)
    const gauges = new Set<Effect.Effect<unknown>>()
    /** Runs `update` before every scrape while the caller's scope is open: gauges that mirror another's state. */
    const watchGauges = (update: Effect.Effect<unknown>): Effect.Effect<void, never, Scope.Scope> =>
      Effect.acquireRelease(
        Effect.sync(() => gauges.add(update)),
        () => Effect.sync(() => gauges.delete(update)),
      ).pipe(Effect.asVoid)
    /** Brings the gauges that mirror state (mailbox depths, component status, memory) up to date, before a scrape. */
    const sample = Effect.gen(function* () {
      for (const update of gauges) yield* update
      const memory = process.memoryUsage()
      yield* Metric.set(Metrics.residentMemory, memory.rss)
      yield* Metric.set(Metrics.heapUsed, memory.heapUsed)
      yield* Metric.set(Metrics.heapTotal, memory.heapTotal)
      yield* Metric.set(Metrics.externalMemory, memory.external)
      // The histogram counts from its resolution up: with no delay at all it reads about 10 ms, which is subtracted.
      const late = (ns: number) => (loopDelay.count === 0 ? 0 : Math.max(0, ns / 1e9 - 0.01))
      yield* Metric.set(Metrics.eventLoopDelayP99, late(loopDelay.percentile(99)))
      yield* Metric.set(Metrics.eventLoopDelayMax, late(loopDelay.max))
      loopDelay.reset()
      for (const [actor, m] of mailboxes) {
        yield* Metric.set(
          Metric.tagged(Metrics.mailboxDepth, "actor", actor),
          Option.getOrElse(m.size(), () => 0),
        )
        yield* Metric.set(Metric.tagged(Metrics.mailboxCapacity, "actor", actor), m.capacity)
      }
      for (const [name, h] of yield* Ref.get(components))
        yield* Metric.set(Metric.tagged(Metrics.componentUp, "component", name), READY.has(h.state) ? 1 : 0)
    })
    return { set, forget, report, watchMailbox, watchGauges, sample } as const
  }),
}) {}
