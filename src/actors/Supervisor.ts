import { Cause, Data, Deferred, Effect, Metric } from "effect"
import { type RestartPolicy, restartSchedule } from "../domain/Schedules.js"
import { Health } from "../layers/Health.js"
import { defectText } from "../layers/Logging.js"
import { actorRestarts } from "../layers/Metrics.js"

export const defaultRestartPolicy: RestartPolicy = {
  base: "100 millis",
  cap: "10 seconds",
  maxRestarts: 5,
  window: "1 minute",
  jitter: true,
}

/** An actor crashed through a defect (a thrown exception or `die`), turned into a typed error so it is restarted. */
export class ActorDefect extends Data.TaggedError("ActorDefect")<{
  readonly actor: string
  readonly defect: unknown
}> {}

/** An actor used up its restart intensity; the process exits non-zero so its service manager restarts it. */
export class ActorEscalated extends Data.TaggedError("ActorEscalated")<{
  readonly actor: string
  readonly cause: Cause.Cause<unknown>
}> {
  override get message(): string {
    return `actor ${this.actor} crashed more often than its restart policy allows: ${Cause.pretty(this.cause)}`
  }
}

/**
 * The root of the actor tree. `spawn` runs an actor under supervision in the caller's scope, so each layer's
 * finaliser stops its own actors in order; an actor that exhausts its policy fails `awaitFatal`, which main waits
 * on ("let it crash" at the root).
 */
export class Supervisor extends Effect.Service<Supervisor>()("ingestd/Supervisor", {
  effect: Effect.gen(function* () {
    const health = yield* Health
    const fatal = yield* Deferred.make<never, ActorEscalated>()

    const supervise = <E, R>(name: string, actor: Effect.Effect<void, E, R>, policy: RestartPolicy) =>
      Effect.suspend(() => health.set(name, "running")).pipe(
        Effect.zipRight(actor),
        Effect.catchAllDefect((defect) => Effect.fail(new ActorDefect({ actor: name, defect }))),
        Effect.tapErrorCause((cause) => {
          const failure = Cause.squash(cause)
          const thrown = failure instanceof ActorDefect ? failure.defect : failure
          const what = defectText(thrown)
          return Effect.all([
            // The thrown value as the log's cause, so the line carries its stack, not `"defect": {}`.
            Effect.logWarning(`actor ${name} crashed; restarting: ${what}`, Cause.die(thrown)),
            health.set(name, "restarting", what),
            Metric.increment(Metric.tagged(actorRestarts, "actor", name)),
          ])
        }),
        Effect.retry(restartSchedule(policy)),
        Effect.zipRight(health.set(name, "stopped")),
        Effect.catchAllCause((cause) =>
          Cause.isInterruptedOnly(cause)
            ? Effect.failCause(cause)
            : Effect.all([
                health.set(name, "failed", String(Cause.squash(cause))),
                Effect.logError(`actor ${name} escalated after too many restarts`, cause),
                Deferred.fail(fatal, new ActorEscalated({ actor: name, cause })),
              ]).pipe(Effect.asVoid),
        ),
        Effect.annotateLogs("actor", name),
      )

    const spawn = <E, R>(
      name: string,
      actor: Effect.Effect<void, E, R>,
      policy: RestartPolicy = defaultRestartPolicy,
    ) => Effect.zipRight(health.set(name, "starting"), Effect.forkScoped(supervise(name, actor, policy)))

    return { spawn, awaitFatal: Deferred.await(fatal) } as const
  }),
}) {}
