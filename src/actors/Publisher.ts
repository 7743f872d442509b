import { Deferred, Duration, Effect, Exit, Fiber, Mailbox, Metric, Option, Schedule, type Tracer } from "effect"
import { candleMessageId, candleRoutingKey, MARKET, tickRoutingKey } from "../domain/Topology.js"
import { AppConfig } from "../layers/AppConfig.js"
import { Health } from "../layers/Health.js"
import * as Metrics from "../layers/Metrics.js"
import { Rabbit, type RabbitBroker, RabbitError } from "../layers/Rabbit.js"
import { spanFromHeaders } from "../layers/Tracing.js"
import type { Candle } from "../schema/Candle.js"
import type { TradeTick } from "./Aggregator.js"
import { Supervisor } from "./Supervisor.js"

/** One message for the broker, with everything needed to publish it again. */
export interface Outbound {
  readonly exchange: string
  readonly routingKey: string
  readonly body: Buffer
  readonly messageId: string
  readonly timestamp: number
  readonly persistent: boolean
  readonly kind: "candle" | "tick" | "alert"
  /** W3C trace context of the span that produced the message (a candle's finalisation, a tick's frame batch). */
  readonly traceparent: string | undefined
}

export const candleMessage = (c: Candle, traceparent?: string): Outbound => ({
  exchange: MARKET,
  routingKey: candleRoutingKey(c.exchange, c.symbol, c.timeframe),
  body: Buffer.from(JSON.stringify(c)),
  messageId: candleMessageId(c),
  timestamp: c.closeTime,
  persistent: true,
  kind: "candle",
  traceparent,
})

/** Ticks are one message each, non-persistent; the id is the trade's natural key. */
export const tickMessage = ({ tick: t, tradeId }: TradeTick, traceparent?: string): Outbound => ({
  exchange: MARKET,
  routingKey: tickRoutingKey(t.exchange, t.symbol),
  body: Buffer.from(JSON.stringify(t)),
  messageId: `${t.exchange}:${t.symbol}:${tradeId}`,
  timestamp: t.timestamp,
  persistent: false,
  kind: "tick",
  traceparent,
})

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

/** A published batch: its span ends when the broker has answered for every message in it. */
interface Batch {
  readonly span: Tracer.Span
  readonly startedAt: number
  remaining: number
  nacked: number
}

/** Back-off before republishing refused (nacked) messages: 100 ms doubling to 5 s, reset by the next ack. */
export const nackBackoff = Schedule.exponential(Duration.millis(100), 2).pipe(
  Schedule.union(Schedule.spaced(Duration.seconds(5))),
)

/**
 * The publisher actor: takes messages from its bounded mailbox and publishes them on a confirm channel, keeping at
 * most RABBITMQ_PUBLISH_WINDOW unconfirmed. A message is done only when the broker confirms it. A nacked message
 * (a full `market.ticks` rejects publishes) is kept and republished after back-off, and nothing new is taken
 * meanwhile, so the mailbox fills and back-pressure reaches the aggregators and the feeds. When the channel or
 * connection dies, every unconfirmed message is republished on the next channel (at-least-once; consumers dedupe by
 * messageId). Returns once its mailbox has ended and everything in it was confirmed.
 */
const run = (broker: RabbitBroker, mailbox: Mailbox.ReadonlyMailbox<Outbound>, window: number) =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    /** Messages to publish before anything new: refused ones and those unconfirmed when a channel died. */
    const again: Array<Outbound> = []
    /** Taken from the mailbox, not yet published: at most one mailbox's worth. */
    const pending: Array<Outbound> = []
    const backoff = yield* Schedule.driver(nackBackoff)
    let refused = false
    let ended = false

    /** Up to `room` messages to publish next, waiting for the mailbox when there is nothing else. */
    const next = (room: number) =>
      Effect.gen(function* () {
        if (again.length > 0) return again.splice(0, room)
        if (pending.length === 0 && !ended) {
          const [chunk, done] = yield* mailbox.takeAll
          for (const m of chunk) pending.push(m)
          ended = done
        }
        return pending.splice(0, room)
      })

    const settle = (batch: Batch) => {
      batch.remaining--
      if (batch.remaining > 0) return
      const elapsed = clock.unsafeCurrentTimeMillis() - batch.startedAt
      if (batch.nacked > 0) batch.span.attribute("messaging.rabbitmq.nacked", batch.nacked)
      batch.span.end(clock.unsafeCurrentTimeNanos(), Exit.void)
      Effect.runFork(Metric.update(Metrics.publishConfirmLatency, Duration.millis(elapsed)))
    }

    const session = Effect.gen(function* () {
      const { channel, closed } = yield* broker.confirmChannel
      const inflight = new Map<number, { readonly message: Outbound; readonly batch: Batch }>()
      const nacked: Array<Outbound> = []
      let seq = 0
      let settled = yield* Deferred.make<void>()
      // Whatever this channel did not get confirmed is published again on the next one.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          const open = new Set<Batch>()
          for (const { batch } of inflight.values()) open.add(batch)
          for (const batch of open)
            batch.span.end(clock.unsafeCurrentTimeNanos(), Exit.fail("channel closed before the broker confirmed"))
          again.unshift(...[...inflight.values()].map((x) => x.message), ...nacked.splice(0))
          inflight.clear()
        }),
      )

      /** Publishes a message already recorded as in flight under `id`. */
      const publish = (id: number, m: Outbound) =>
        Effect.async<void, RabbitError>((resume) => {
          let buffered: boolean
          try {
            buffered = channel.publish(
              m.exchange,
              m.routingKey,
              m.body,
              {
                persistent: m.persistent,
                messageId: m.messageId,
                timestamp: Math.floor(m.timestamp / 1_000),
                contentType: "application/json",
                ...(m.traceparent === undefined ? {} : { headers: { traceparent: m.traceparent } }),
              },
              (err: unknown) => {
                const entry = inflight.get(id)
                if (entry === undefined) return
                inflight.delete(id)
                if (err === null || err === undefined) {
                  refused = false
                  Effect.runFork(Metric.increment(Metric.tagged(Metrics.published, "kind", m.kind)))
                } else {
                  nacked.push(m)
                  entry.batch.nacked++
                  Effect.runFork(Metric.increment(Metric.tagged(Metrics.publishNacked, "kind", m.kind)))
                }
                settle(entry.batch)
                Deferred.unsafeDone(settled, Exit.void)
              },
            )
          } catch (e) {
            // A channel that closed under us throws; the message stays in flight and goes to the next channel.
            resume(Effect.fail(new RabbitError({ op: "publish", reason: e instanceof Error ? e.message : String(e) })))
            return
          }
          // The channel's write buffer is full: wait for it to drain before the next publish.
          if (buffered) resume(Effect.void)
          else channel.once("drain", () => resume(Effect.void))
        })

      /** Waits until fewer than `limit` messages are unconfirmed. */
      const awaitInflightBelow = (limit: number) =>
        Effect.gen(function* () {
          while (inflight.size >= limit && nacked.length === 0) {
            yield* Deferred.await(settled)
            settled = yield* Deferred.make<void>()
          }
        })

      const sender = Effect.gen(function* () {
        while (true) {
          yield* awaitInflightBelow(window)
          if (nacked.length > 0) {
            again.push(...nacked.splice(0))
            if (!refused) yield* backoff.reset
            refused = true
            yield* Effect.logWarning(
              `RabbitMQ refused ${again.length} message(s) (a full queue?); republishing after back-off`,
            )
            yield* backoff.next(undefined).pipe(Effect.ignore)
          }
          const messages = yield* next(window - inflight.size)
          if (messages.length === 0) {
            // The mailbox ended: finish once every message is confirmed.
            yield* awaitInflightBelow(1)
            if (nacked.length === 0 && again.length === 0 && pending.length === 0) return
            continue
          }
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
          const batch: Batch = {
            span,
            startedAt: clock.unsafeCurrentTimeMillis(),
            remaining: messages.length,
            nacked: 0,
          }
          yield* Metric.update(Metrics.publishBatchSize, messages.length)
          // Recorded as in flight before anything can interrupt: a dying channel then hands them to the next one.
          const ids = messages.map((message) => {
            const id = seq++
            inflight.set(id, { message, batch })
            return id
          })
          for (let i = 0; i < messages.length; i++) {
            yield* broker.unblocked
            yield* publish(ids[i]!, messages[i]!)
          }
        }
      })
      return yield* Effect.raceFirst(sender, Deferred.await(closed))
    })

    while (true) {
      const done = yield* Effect.scoped(session).pipe(
        Effect.as(true),
        Effect.catchAll((e) =>
          Effect.as(
            Effect.zipRight(
              Effect.logWarning(`publisher: ${e.message}; ${again.length} message(s) will be republished`),
              Effect.sleep(Duration.millis(200)),
            ),
            false,
          ),
        ),
      )
      if (done) return
    }
  })

/**
 * A supervised publisher actor with its own mailbox and channel: `offer` suspends while the mailbox is full. On
 * release (after its producers drained into it) it publishes what is left and waits for the confirms, within
 * SHUTDOWN_TIMEOUT_MS.
 */
export const makePublisher = (name: string, broker: RabbitBroker) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const supervisor = yield* Supervisor
    const mailbox = yield* Mailbox.make<Outbound>({ capacity: config.mailboxCapacity, strategy: "suspend" })
    yield* (yield* Health).watchMailbox(name, mailbox, config.mailboxCapacity)
    const fiber = yield* supervisor.spawn(name, run(broker, mailbox, config.publishWindow))
    yield* Effect.addFinalizer(() =>
      mailbox.end.pipe(
        Effect.zipRight(Fiber.await(fiber)),
        Effect.timeout(config.shutdownTimeout),
        Effect.catchAll(() =>
          Effect.logError(`${name}: unconfirmed messages left after ${Duration.format(config.shutdownTimeout)}`),
        ),
      ),
    )
    return {
      offer: (ms: ReadonlyArray<Outbound>) => (ms.length === 0 ? Effect.void : Effect.asVoid(mailbox.offerAll(ms))),
    }
  })

/** The market publisher (candles and ticks); off, and `offer` a no-op, when RABBITMQ_URL is unset. */
export class Publisher extends Effect.Service<Publisher>()("ingestd/Publisher", {
  scoped: Effect.gen(function* () {
    const rabbit = yield* Rabbit
    if (Option.isNone(rabbit.broker)) return { enabled: false, offer: (_: ReadonlyArray<Outbound>) => Effect.void }
    const publisher = yield* makePublisher("publisher", rabbit.broker.value)
    return { enabled: true, offer: publisher.offer }
  }),
}) {}
