import type { ConfirmChannel } from "amqplib"
import { Deferred, Duration, Effect, Exit, Metric, Option, Scope, type Tracer } from "effect"
import * as Metrics from "../../../layers/Metrics.js"
import { type RabbitBroker, RabbitError } from "../../../layers/Rabbit.js"
import { spanFromHeaders, traceparentOf } from "../../../layers/Tracing.js"

/** One message for the broker, with everything needed to publish it again. */
export interface Outbound {
  readonly exchange: string
  readonly routingKey: string
  readonly body: Buffer
  readonly messageId: string
  readonly timestamp: number
  readonly persistent: boolean
  readonly kind: "candle" | "tick" | "alert" | "indicator"
  /** Records the message carries (ticks of a batch); metrics count records, not messages. */
  readonly count?: number
  /** W3C trace context of the span that made the message (a candle's finalisation, a tick's frame batch): the publish links to it. */
  readonly traceparent: string | undefined
}

/** How long a publish waits for a connection, or for the broker to lift a resource alarm, before it gives up. */
const BROKER_WAIT = Duration.seconds(5)
/** A broker that neither confirms nor closes the channel within this is treated as gone. */
const CONFIRM_TIMEOUT = Duration.seconds(30)
/** A span links to at most this many producers: enough to follow a batch back, bounded for the exporter. */
const MAX_LINKS = 32

const linksOf = (batch: ReadonlyArray<Outbound>): Array<Tracer.SpanLink> => {
  const seen = new Set<string>()
  const links: Array<Tracer.SpanLink> = []
  for (const m of batch) {
    if (m.traceparent === undefined || seen.has(m.traceparent)) continue
    seen.add(m.traceparent)
    const span = spanFromHeaders({ traceparent: m.traceparent })
    if (Option.isSome(span)) links.push({ _tag: "SpanLink", span: span.value, attributes: {} })
    if (links.length === MAX_LINKS) break
  }
  return links
}

/** Messages the broker did not confirm (nacked, or unanswered when the channel died); publishing them again is safe. */
export interface PublishFailed<M> {
  readonly reason: string
  readonly unconfirmed: ReadonlyArray<M>
}

interface Live {
  readonly channel: ConfirmChannel
  readonly closed: Deferred.Deferred<never, RabbitError>
  readonly scope: Scope.CloseableScope
}

/**
 * Publishing with confirms on one channel kept across calls (and replaced after it dies): `publish` sends the
 * messages, keeping `window` unconfirmed in flight (each confirm lets the next one go), and returns once the broker
 * answered every one; it fails with the ones it did not confirm. It never waits forever: no connection, a broker resource alarm (the connection blocked) or
 * a broker that stops answering each fail within seconds, so the caller can buffer elsewhere meanwhile.
 */
export const makeConfirmedPublisher = (broker: RabbitBroker, window: number) =>
  Effect.gen(function* () {
    let live: Live | undefined
    const drop = Effect.suspend(() => {
      const l = live
      live = undefined
      return l === undefined ? Effect.void : Scope.close(l.scope, Exit.void)
    })
    yield* Effect.addFinalizer(() => drop)

    const channel: Effect.Effect<Live, RabbitError> = Effect.gen(function* () {
      if (live !== undefined && !(yield* Deferred.isDone(live.closed))) return live
      yield* drop
      const scope = yield* Scope.make()
      const opened = yield* broker.confirmChannel.pipe(
        Scope.extend(scope),
        Effect.timeoutFail({
          duration: BROKER_WAIT,
          onTimeout: () => new RabbitError({ op: "channel", reason: "no connection to RabbitMQ" }),
        }),
        Effect.tapError(() => Scope.close(scope, Exit.void)),
      )
      live = { ...opened, scope }
      return live
    })

    /**
     * Publishes every item, keeping at most `window` unconfirmed, until all are answered or the channel is gone.
     * Each message's `traceparent` names the batch's PRODUCER span (`producer`), whose links lead back to the spans
     * that made the messages, so that a consumer's span is the child of the publish, as the messaging conventions
     * have it.
     */
    const sendAll = <M extends { readonly message: Outbound }>(
      l: Live,
      items: ReadonlyArray<M>,
      producer: string | undefined,
    ) =>
      Effect.gen(function* () {
        const headers = producer === undefined ? {} : { headers: { traceparent: producer } }
        const settled: Array<boolean> = new Array<boolean>(items.length).fill(false)
        const nacked: Array<M> = []
        const confirms = Effect.async<void>((resume) => {
          let next = 0
          let outstanding = 0
          let answered = 0
          const pump = () => {
            while (next < items.length && outstanding < window) {
              const i = next++
              const m = items[i]!.message
              outstanding++
              try {
                l.channel.publish(
                  m.exchange,
                  m.routingKey,
                  m.body,
                  {
                    persistent: m.persistent,
                    messageId: m.messageId,
                    timestamp: Math.floor(m.timestamp / 1_000),
                    contentType: "application/json",
                    ...headers,
                  },
                  (err: unknown) => {
                    if (settled[i]) return
                    settled[i] = true
                    outstanding--
                    if (err !== null && err !== undefined) nacked.push(items[i]!)
                    if (++answered === items.length) resume(Effect.void)
                    else pump()
                  },
                )
              } catch {
                // The channel closed under us: what is unsettled is handed back below.
                return
              }
            }
          }
          pump()
        })
        const outcome = yield* Effect.raceFirst(
          Effect.as(confirms, "confirmed" as const),
          Effect.as(Effect.either(Deferred.await(l.closed)), "closed" as const),
        ).pipe(Effect.timeoutTo({ duration: CONFIRM_TIMEOUT, onSuccess: (x) => x, onTimeout: () => "silent" as const }))
        if (outcome !== "confirmed") yield* drop
        const unsettled = items.filter((_, i) => !settled[i])
        return { nacked, unsettled, outcome }
      })

    const publish = <M extends { readonly message: Outbound }>(
      items: ReadonlyArray<M>,
    ): Effect.Effect<void, PublishFailed<M>> =>
      Effect.gen(function* () {
        if (items.length === 0) return
        const messages = items.map((i) => i.message)
        const span = yield* Effect.makeSpan("Publisher.batch", {
          kind: "producer",
          root: true,
          captureStackTrace: false,
          links: linksOf(messages),
          attributes: {
            "messaging.system": "rabbitmq",
            "messaging.destination.name": messages[0]!.exchange,
            "messaging.batch.message_count": messages.length,
          },
        })
        const clock = yield* Effect.clock
        const started = clock.unsafeCurrentTimeMillis()
        const fail = (reason: string, unconfirmed: ReadonlyArray<M>) =>
          Effect.zipRight(
            Effect.sync(() => span.end(clock.unsafeCurrentTimeNanos(), Exit.fail(reason))),
            Effect.fail<PublishFailed<M>>({ reason, unconfirmed }),
          )
        const l = yield* channel.pipe(Effect.either)
        if (l._tag === "Left") return yield* fail(l.left.reason, items)
        const open = yield* broker.unblocked.pipe(Effect.timeout(BROKER_WAIT), Effect.option)
        if (Option.isNone(open))
          return yield* fail("RabbitMQ blocked the connection (a memory or disk alarm on the broker)", items)
        const { nacked, unsettled, outcome } = yield* sendAll(l.right, items, traceparentOf(span))
        if (outcome !== "confirmed")
          return yield* fail(
            outcome === "closed" ? "the channel closed before the broker confirmed" : "the broker stopped confirming",
            [...nacked, ...unsettled],
          )
        const counts = new Map<string, number>()
        for (const m of messages) counts.set(m.kind, (counts.get(m.kind) ?? 0) + (m.count ?? 1))
        for (const n of nacked) counts.set(n.message.kind, counts.get(n.message.kind)! - (n.message.count ?? 1))
        for (const [kind, n] of counts) yield* Metric.incrementBy(Metric.tagged(Metrics.published, "kind", kind), n)
        for (const n of nacked) yield* Metric.increment(Metric.tagged(Metrics.publishNacked, "kind", n.message.kind))
        yield* Metric.update(Metrics.publishBatchSize, messages.length)
        yield* Metric.update(Metrics.publishConfirmLatency, Duration.millis(clock.unsafeCurrentTimeMillis() - started))
        if (nacked.length > 0) {
          span.attribute("messaging.rabbitmq.nacked", nacked.length)
          return yield* fail(`RabbitMQ refused ${nacked.length} message(s) (a full queue?)`, nacked)
        }
        span.end(clock.unsafeCurrentTimeNanos(), Exit.void)
      })

    return { publish } as const
  })
