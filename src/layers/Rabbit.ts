import amqp, { type ChannelModel, type ConfirmChannel } from "amqplib"
import { Data, Deferred, Effect, Exit, Option, Redacted, Ref, Runtime, type Scope } from "effect"
import { rabbitReconnectSchedule } from "../domain/Schedules.js"
import { EXCHANGES, type QueueDeclaration, seedQueues } from "../domain/Topology.js"
import { AppConfig } from "./AppConfig.js"
import { Health } from "./Health.js"

/** A broker operation failed; the connection or channel it used is gone or refused the request. */
export class RabbitError extends Data.TaggedError("RabbitError")<{
  readonly op: string
  readonly reason: string
  /** What amqplib threw or reported, where there was something. */
  readonly cause?: unknown
}> {
  override get message(): string {
    return `RabbitMQ ${this.op}: ${this.reason}`
  }
}

const reason = (e: unknown) => (e instanceof Error ? e.message : String(e))

/** What actors use of a configured broker. */
export interface RabbitBroker {
  /** A confirm channel on the live connection, closed with the caller's scope; waits while there is none. */
  readonly confirmChannel: Effect.Effect<
    { readonly channel: ConfirmChannel; readonly closed: Deferred.Deferred<never, RabbitError> },
    RabbitError,
    Scope.Scope
  >
  /** Returns at once unless the broker has blocked publishing, then when it unblocks. */
  readonly unblocked: Effect.Effect<void>
  /** The broker's address without credentials, for logs. */
  readonly where: string
  /**
   * Messages waiting in each of `queues` that exists (a passive declare per queue, so it needs no management
   * plugin); fails while there is no connection.
   */
  readonly depths: (queues: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, number>, RabbitError>
}

interface Live {
  readonly model: ChannelModel
  /** Completes, with what the broker or the socket said, when this connection is gone. */
  readonly lost: Deferred.Deferred<string>
}

/**
 * Runs `f` on a channel of its own. The broker closes a channel whose request it refuses (406 PRECONDITION_FAILED
 * for a queue declared elsewhere with other arguments); amqplib emits that as an `'error'` event, which would kill
 * the process unheard, so it is listened to here and the refusal comes back as the rejected promise.
 */
const onOwnChannel = async <A>(model: ChannelModel, f: (ch: amqp.Channel) => Promise<A>): Promise<A> => {
  const ch = await model.createChannel()
  ch.on("error", () => undefined)
  try {
    return await f(ch)
  } finally {
    await ch.close().catch(() => undefined)
  }
}

/** A seed queue the broker already holds with other arguments: declared elsewhere, left as it is. */
export interface QueueConflict {
  readonly queue: string
  readonly wanted: Readonly<Record<string, string | number>>
  readonly broker: string
}

/**
 * Declares every exchange, queue (with its arguments) and binding of the seed; idempotent. The exchanges are all
 * the daemon needs to publish, so their failure fails the declaration; a queue that already exists with other
 * arguments does not: it is returned as a conflict (and still bound), and publishing goes on.
 */
export const declareTopology = (model: ChannelModel, queues: ReadonlyArray<QueueDeclaration> = seedQueues()) =>
  Effect.tryPromise({
    try: async () => {
      await onOwnChannel(model, async (ch) => {
        for (const x of EXCHANGES) await ch.assertExchange(x.name, x.type, { durable: true })
      })
      const conflicts: Array<QueueConflict> = []
      for (const q of queues) {
        await onOwnChannel(model, (ch) => ch.assertQueue(q.name, { durable: true, arguments: q.arguments })).catch(
          (e: unknown) => conflicts.push({ queue: q.name, wanted: q.arguments, broker: reason(e) }),
        )
        await onOwnChannel(model, async (ch) => {
          for (const b of q.bindings) await ch.bindQueue(q.name, b.exchange, b.key)
        })
      }
      return conflicts
    },
    catch: (e) => new RabbitError({ op: "declare topology", reason: reason(e), cause: e }),
  })

/** The one line a reconnect logs about queues it found declared with other arguments. */
export const conflictLine = (conflicts: ReadonlyArray<QueueConflict>): string =>
  `RabbitMQ: ${conflicts.length} queue(s) already exist with other arguments and were left as they are; publishing to their exchanges goes on. ${conflicts
    .map((c) => `${c.queue}: wanted ${JSON.stringify(c.wanted)}; the broker said: ${c.broker}`)
    .join(" | ")}. To move to the seed's declarations, see the README ("RabbitMQ topology: migrating a broker").`

/**
 * One broker connection for the process, re-established with backoff whenever it is lost, the seed topology
 * declared on every (re)connect. Actors take confirm channels from it in their own scopes; a channel dies with its
 * connection and the actor takes a new one. While the broker is unreachable those requests wait. Off when
 * RABBITMQ_URL is unset.
 */
export class Rabbit extends Effect.Service<Rabbit>()("ingestd/Rabbit", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    // amqplib reports on event callbacks; their log lines go through the daemon's logger like every other.
    const log = Runtime.runFork(yield* Effect.runtime<never>())
    const queues = seedQueues(config.seedTtls)
    const current = yield* Ref.make(yield* Deferred.make<Live>())
    let blocked: Deferred.Deferred<void> | undefined

    if (Option.isNone(config.rabbitmqUrl)) return { broker: Option.none<RabbitBroker>() }
    const url = Redacted.value(config.rabbitmqUrl.value)
    // The address without credentials, for logs.
    const where = (() => {
      try {
        const u = new URL(url)
        return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`
      } catch {
        return "the RABBITMQ_URL broker"
      }
    })()

    const connectOnce = Effect.gen(function* () {
      const model = yield* Effect.tryPromise({
        try: () => amqp.connect(url, { clientProperties: { connection_name: "neuraltrade-ingest" } }),
        catch: (e) => new RabbitError({ op: "connect", reason: reason(e), cause: e }),
      })
      // Listened to before anything else: an unheard 'error' event would end the process, and a 'close' missed
      // between here and `connectionLoop` would leave it waiting on a dead connection. The 'close' that always
      // follows an 'error' ends the connection's life, with the broker's reason, and the loop reconnects.
      model.on("error", () => undefined)
      const lost = yield* Deferred.make<string>()
      model.on("close", (e?: Error) => Deferred.unsafeDone(lost, Exit.succeed(e === undefined ? "closed" : e.message)))
      // The broker blocks publishers under memory or disk alarms; publishing waits for `unblocked`.
      model.on("blocked", (why: string) => {
        blocked ??= Deferred.unsafeMake<void>(Effect.runSync(Effect.fiberId))
        log(Effect.logWarning(`RabbitMQ blocked publishing: ${why}; publishing waits until it unblocks`))
      })
      model.on("unblocked", () => {
        if (blocked !== undefined) Deferred.unsafeDone(blocked, Exit.void)
        blocked = undefined
      })
      const conflicts = yield* declareTopology(model, queues).pipe(
        Effect.tapError(() => Effect.promise(() => model.close().catch(() => undefined))),
      )
      if (conflicts.length > 0) yield* Effect.logWarning(conflictLine(conflicts))
      return { model, lost }
    })

    const connectionLoop = Effect.gen(function* () {
      while (true) {
        // Not ready until connected: a required sink that is reconnecting is down, however hopeful.
        yield* health.set("rabbitmq", "down", `connecting to ${where}`)
        const { model, lost } = yield* connectOnce.pipe(
          Effect.tapError((e) =>
            Effect.zipRight(
              health.set("rabbitmq", "down", e.message),
              Effect.logWarning(`${e.message}; retrying ${where} with backoff`),
            ),
          ),
          Effect.retry(rabbitReconnectSchedule),
        )
        const waiting = yield* Ref.get(current)
        yield* Deferred.succeed(waiting, { model, lost })
        yield* health.set("rabbitmq", "up", where)
        yield* Effect.logInfo(`RabbitMQ: connected to ${where}, topology declared`)
        const why = yield* Effect.onInterrupt(Deferred.await(lost), () =>
          Effect.promise(() => model.close().catch(() => undefined)),
        )
        // Whoever waited for this connection to unblock now waits for the next one instead.
        if (blocked !== undefined) Deferred.unsafeDone(blocked, Exit.void)
        blocked = undefined
        yield* Ref.set(current, yield* Deferred.make<Live>())
        yield* health.set("rabbitmq", "down", `connection lost: ${why}`)
        yield* Effect.logWarning(`RabbitMQ: connection to ${where} lost (${why}); reconnecting`)
      }
    })
    yield* Effect.forkScoped(connectionLoop)

    const confirmChannel: RabbitBroker["confirmChannel"] = Effect.gen(function* () {
      const live = yield* Effect.flatMap(Ref.get(current), Deferred.await)
      const channel = yield* Effect.acquireRelease(
        Effect.tryPromise({
          try: () => live.model.createConfirmChannel(),
          catch: (e) => new RabbitError({ op: "open channel", reason: reason(e), cause: e }),
        }),
        (ch) => Effect.promise(() => ch.close().catch(() => undefined)),
      )
      const closed = yield* Deferred.make<never, RabbitError>()
      channel.on("close", () =>
        Deferred.unsafeDone(closed, Exit.fail(new RabbitError({ op: "channel", reason: "closed" }))),
      )
      channel.on("error", (e: Error) =>
        Deferred.unsafeDone(closed, Exit.fail(new RabbitError({ op: "channel", reason: e.message, cause: e }))),
      )
      return { channel, closed }
    })

    const unblocked = Effect.suspend(() => (blocked === undefined ? Effect.void : Deferred.await(blocked)))

    const depths: RabbitBroker["depths"] = (names) =>
      Effect.gen(function* () {
        const live = yield* Effect.flatMap(Ref.get(current), Deferred.poll)
        if (Option.isNone(live)) return yield* new RabbitError({ op: "read queue depths", reason: "not connected" })
        const model = (yield* live.value).model
        return yield* Effect.tryPromise({
          try: async () => {
            const found = new Map<string, number>()
            for (const name of names)
              // A queue that does not exist closes the channel with 404: it is left out, not an error.
              await onOwnChannel(model, (ch) => ch.checkQueue(name)).then(
                (q) => found.set(name, q.messageCount),
                () => undefined,
              )
            return found
          },
          catch: (e) => new RabbitError({ op: "read queue depths", reason: reason(e), cause: e }),
        })
      })

    return { broker: Option.some<RabbitBroker>({ confirmChannel, unblocked, where, depths }) }
  }),
}) {}
