import { Deferred, Duration, Effect, Exit, Fiber, Mailbox, Metric, Option, Schedule } from "effect"
import { candleMessageId, candleRoutingKey, MARKET, tickRoutingKey } from "../domain/Topology.js"
import { AppConfig } from "../layers/AppConfig.js"
import * as Metrics from "../layers/Metrics.js"
import { Rabbit, type RabbitBroker, RabbitError } from "../layers/Rabbit.js"
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
  readonly kind: "candle" | "tick"
}

export const candleMessage = (c: Candle): Outbound => ({
  exchange: MARKET,
  routingKey: candleRoutingKey(c.exchange, c.symbol, c.timeframe),
  body: Buffer.from(JSON.stringify(c)),
  messageId: candleMessageId(c),
  timestamp: c.closeTime,
  persistent: true,
  kind: "candle",
})

/** Ticks are one message each, non-persistent; the id is the trade's natural key. */
export const tickMessage = ({ tick: t, tradeId }: TradeTick): Outbound => ({
  exchange: MARKET,
  routingKey: tickRoutingKey(t.exchange, t.symbol),
  body: Buffer.from(JSON.stringify(t)),
  messageId: `${t.exchange}:${t.symbol}:${tradeId}`,
  timestamp: t.timestamp,
  persistent: false,
  kind: "tick",
})

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
    /** Messages to publish before anything new: refused ones and those unconfirmed when a channel died. */
    const again: Array<Outbound> = []
    const backoff = yield* Schedule.driver(nackBackoff)
    let refused = false
    let ended = false

    const session = Effect.gen(function* () {
      const { channel, closed } = yield* broker.confirmChannel
      const inflight = new Map<number, Outbound>()
      const nacked: Array<Outbound> = []
      let seq = 0
      let settled = yield* Deferred.make<void>()
      // Whatever this channel did not get confirmed is published again on the next one.
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          again.unshift(...inflight.values(), ...nacked.splice(0))
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
              },
              (err: unknown) => {
                if (!inflight.delete(id)) return
                if (err === null || err === undefined) {
                  refused = false
                  Effect.runFork(Metric.increment(Metric.tagged(Metrics.published, "kind", m.kind)))
                } else {
                  nacked.push(m)
                  Effect.runFork(Metric.increment(Metric.tagged(Metrics.publishNacked, "kind", m.kind)))
                }
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
          const m =
            again.shift() ??
            (ended ? undefined : yield* mailbox.take.pipe(Effect.option, Effect.map(Option.getOrUndefined)))
          if (m === undefined) {
            // The mailbox ended: finish once every message is confirmed.
            ended = true
            yield* awaitInflightBelow(1)
            if (nacked.length === 0 && again.length === 0) return
            continue
          }
          // Recorded as in flight before anything can interrupt: a dying channel then hands it to the next one.
          const id = seq++
          inflight.set(id, m)
          yield* broker.unblocked
          yield* publish(id, m)
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

/** The publisher as a service: `offerCandles` / `offerTicks` suspend while its mailbox is full. */
export class Publisher extends Effect.Service<Publisher>()("ingestd/Publisher", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const rabbit = yield* Rabbit
    const supervisor = yield* Supervisor
    if (Option.isNone(rabbit.broker)) return { enabled: false, offer: (_: ReadonlyArray<Outbound>) => Effect.void }
    const mailbox = yield* Mailbox.make<Outbound>({ capacity: config.mailboxCapacity, strategy: "suspend" })
    const fiber = yield* supervisor.spawn("publisher", run(rabbit.broker.value, mailbox, config.publishWindow))
    // After the aggregators drained into it: publish what is left and wait for its confirms, within the limit.
    yield* Effect.addFinalizer(() =>
      mailbox.end.pipe(
        Effect.zipRight(Fiber.await(fiber)),
        Effect.timeout(config.shutdownTimeout),
        Effect.catchAll(() =>
          Effect.logError(`publisher: unconfirmed messages left after ${Duration.format(config.shutdownTimeout)}`),
        ),
      ),
    )
    const offer = (ms: ReadonlyArray<Outbound>) => (ms.length === 0 ? Effect.void : Effect.asVoid(mailbox.offerAll(ms)))
    return { enabled: true, offer }
  }),
}) {}
