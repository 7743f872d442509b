import { Effect, Ref } from "effect"

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
  effect: Effect.gen(function* () {
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
    const report = Ref.get(components).pipe(
      Effect.map((m): HealthReport => {
        const unhealthy = [...m].filter(([, h]) => !READY.has(h.state)).map(([n]) => n)
        return { ready: unhealthy.length === 0, components: Object.fromEntries(m), unhealthy }
      }),
    )
    return { set, report } as const
  }),
}) {}
