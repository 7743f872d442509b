import type { ConsumeMessage } from "amqplib"
import {
  Data,
  Deferred,
  Duration,
  Effect,
  Either,
  Exit,
  Mailbox,
  Metric,
  Option,
  ParseResult,
  Schedule,
  Schema,
} from "effect"
import { deadLetterQueueOf, DLX, type QueueDeclaration } from "../domain/Topology.js"
import * as Metrics from "../layers/Metrics.js"
import { type RabbitBroker, RabbitError } from "../layers/Rabbit.js"
import { spanFromHeaders } from "../layers/Tracing.js"

/** A handler failure worth another try (a sink briefly unavailable). */
export class RetryableError extends Data.TaggedError("RetryableError")<{ readonly reason: string }> {}
/** A handler failure no retry can fix: the message goes to the dead-letter queue. */
export class PermanentError extends Data.TaggedError("PermanentError")<{ readonly reason: string }> {}

export interface ConsumerSpec<A, I> {
  readonly name: string
  /** One of the daemon's own queues, declared (with its dead-letter queue) before each session. */
  readonly queue: string
  readonly declare: ReadonlyArray<QueueDeclaration>
  /** Messages the broker hands over before the first is acked: the consumer's back-pressure. */
  readonly prefetch: number
  /** Messages handled at once (at most `prefetch`); 1 handles them in delivery order. */
  readonly concurrency: number
  readonly schema: Schema.Schema<A, I>
  readonly handle: (message: A, messageId: string) => Effect.Effect<void, RetryableError | PermanentError>
  /** Between tries of a retryable failure; the message is dead-lettered when the schedule ends. */
  readonly retry: Schedule.Schedule<unknown>
  /** messageIds remembered as handled, so that a redelivered or republished message is handled once. */
  readonly remember: number
}

/** A bounded set of recent messageIds (insertion order evicts the oldest). */
class Recent {
  private readonly ids = new Set<string>()
  constructor(private readonly capacity: number) {}
  has(id: string): boolean {
    return this.ids.has(id)
  }
  add(id: string): void {
    this.ids.add(id)
    if (this.ids.size > this.capacity) this.ids.delete(this.ids.values().next().value!)
  }
}

/**
 * A generic consumer actor: manual ack after the handler's write (at-least-once), prefetch as back-pressure,
 * schema validation, retries of retryable failures on a named schedule, and for a message that cannot be handled
 * (invalid, or failing past its retries) a copy in the queue's dead-letter queue with `x-death-reason` and
 * `x-retries` headers before the original is acked; never requeued forever. Idempotent by messageId.
 */
export const runConsumer = <A, I>(broker: RabbitBroker, spec: ConsumerSpec<A, I>) =>
  Effect.gen(function* () {
    const decode = Schema.decodeUnknownEither(Schema.parseJson(spec.schema))
    const handled = new Recent(spec.remember)
    /** messageIds being handled now: a copy delivered meanwhile waits for the first one's outcome. */
    const inFlight = new Map<string, Deferred.Deferred<void>>()
    const tag = <T, In, O>(m: Metric.Metric<T, In, O>) => Metric.tagged(m, "queue", spec.queue)

    const session = Effect.gen(function* () {
      const { channel, closed } = yield* broker.confirmChannel
      yield* Effect.tryPromise({
        try: async () => {
          for (const q of spec.declare) {
            await channel.assertQueue(q.name, { durable: true, arguments: q.arguments })
            for (const b of q.bindings) await channel.bindQueue(q.name, b.exchange, b.key)
          }
        },
        catch: (e) =>
          new RabbitError({
            op: `declare ${spec.declare.map((q) => q.name).join(", ")}`,
            reason: `${String(e)} (a queue of that name declared with other arguments must be deleted first; see the README)`,
          }),
      })
      yield* Effect.tryPromise({
        try: () => channel.prefetch(spec.prefetch),
        catch: (e) => new RabbitError({ op: "prefetch", reason: String(e), cause: e }),
      })
      // Unbounded in type only: the broker never has more than `prefetch` unacked deliveries outstanding.
      const inbox = yield* Mailbox.make<ConsumeMessage, RabbitError>()
      const cancelled = new RabbitError({ op: `consume ${spec.queue}`, reason: "cancelled by the broker" })
      yield* Effect.tryPromise({
        try: () =>
          channel.consume(spec.queue, (m) =>
            m === null ? inbox.unsafeDone(Exit.fail(cancelled)) : inbox.unsafeOffer(m),
          ),
        catch: (e) => new RabbitError({ op: `consume ${spec.queue}`, reason: String(e), cause: e }),
      })

      const deadLetter = (m: ConsumeMessage, reason: string, retries: number) =>
        Effect.async<void, RabbitError>((resume) => {
          channel.publish(
            DLX,
            deadLetterQueueOf(spec.queue),
            m.content,
            {
              ...m.properties,
              persistent: true,
              headers: { ...m.properties.headers, "x-death-reason": reason, "x-retries": retries },
            },
            (err: unknown) =>
              resume(
                err
                  ? Effect.fail(new RabbitError({ op: "dead-letter", reason: String(err), cause: err }))
                  : Effect.void,
              ),
          )
        }).pipe(
          Effect.zipRight(Effect.sync(() => channel.ack(m))),
          Effect.zipRight(Metric.increment(Metric.tagged(tag(Metrics.consumerMessages), "outcome", "dead_lettered"))),
          Effect.zipRight(
            Effect.logWarning(`${spec.name}: message ${m.properties.messageId ?? "?"} dead-lettered: ${reason}`),
          ),
        )

      const handle = (m: ConsumeMessage, id: string) =>
        Effect.gen(function* () {
          const parsed = decode(m.content.toString())
          if (Either.isLeft(parsed))
            return yield* deadLetter(
              m,
              `invalid: ${ParseResult.TreeFormatter.formatErrorSync(parsed.left).replace(/\s+/g, " ")}`,
              0,
            )
          let tries = 0
          const outcome = yield* spec.handle(parsed.right, id).pipe(
            Effect.tapError(() => Effect.sync(() => tries++)),
            Effect.retry({ schedule: spec.retry, while: (e) => e._tag === "RetryableError" }),
            Effect.either,
          )
          if (Either.isLeft(outcome)) return yield* deadLetter(m, `${outcome.left._tag}: ${outcome.left.reason}`, tries)
          if (id !== "") handled.add(id)
          channel.ack(m)
          yield* Metric.increment(Metric.tagged(tag(Metrics.consumerMessages), "outcome", "acked"))
        })

      const one = (m: ConsumeMessage): Effect.Effect<void, RabbitError> =>
        Effect.gen(function* () {
          const id = String(m.properties.messageId ?? "")
          const first = inFlight.get(id)
          if (first !== undefined) {
            yield* Deferred.await(first)
            return yield* one(m)
          }
          if (id !== "" && handled.has(id)) {
            channel.ack(m)
            return yield* Metric.increment(Metric.tagged(tag(Metrics.consumerMessages), "outcome", "duplicate"))
          }
          if (id === "") return yield* handle(m, id)
          const done = yield* Deferred.make<void>()
          inFlight.set(id, done)
          yield* handle(m, id).pipe(
            Effect.ensuring(
              Effect.zipRight(
                Effect.sync(() => inFlight.delete(id)),
                Deferred.succeed(done, undefined),
              ),
            ),
          )
        })

      const consumers = tag(Metrics.consumers)
      yield* Effect.acquireRelease(Metric.set(consumers, 1), () => Metric.set(consumers, 0))
      // Handlers run in this channel's scope: when it dies they stop, and their messages come back unacked.
      const slots = yield* Effect.makeSemaphore(Math.max(1, Math.min(spec.concurrency, spec.prefetch)))
      const failed = yield* Deferred.make<never, RabbitError>()
      const work = Effect.forever(
        Effect.gen(function* () {
          const m = yield* inbox.take.pipe(Effect.catchTag("NoSuchElementException", () => Effect.fail(cancelled)))
          yield* slots.take(1)
          yield* Effect.forkScoped(
            one(m).pipe(
              Effect.withSpan(`Consumer.message`, {
                kind: "consumer",
                captureStackTrace: false,
                // The publisher's span (a candle's finalisation) is this one's parent: one trace from feed to store.
                parent: Option.getOrUndefined(spanFromHeaders(m.properties.headers)),
                attributes: {
                  "messaging.system": "rabbitmq",
                  "messaging.destination.name": spec.queue,
                  "messaging.message.id": String(m.properties.messageId ?? ""),
                  "messaging.rabbitmq.redelivered": m.fields.redelivered,
                  consumer: spec.name,
                },
              }),
              Effect.catchAll((e) => Deferred.fail(failed, e)),
              Effect.ensuring(slots.release(1)),
            ),
          )
        }),
      )
      return yield* Effect.raceAll([work, Deferred.await(closed), Deferred.await(failed)])
    })

    while (true) {
      yield* Effect.scoped(session).pipe(
        Effect.catchAll((e) =>
          Effect.zipRight(
            Effect.logWarning(`${spec.name}: ${e.message}; consuming again after reconnect`),
            Effect.sleep(Duration.millis(200)),
          ),
        ),
      )
    }
  }).pipe(Effect.annotateLogs("actor", spec.name))
