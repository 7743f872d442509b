import { Clock, Duration, Effect, Metric, Option, Ref } from "effect"
import { evaluateRules, IncidentBook, type Notification } from "../domain/Incidents.js"
import { NOTIFICATIONS } from "../domain/Topology.js"
import { AppConfig } from "../layers/AppConfig.js"
import { Health } from "../layers/Health.js"
import * as Metrics from "../layers/Metrics.js"
import { Rabbit } from "../layers/Rabbit.js"
import { Aggregators } from "./aggregation/Aggregators.js"
import type { Outbound } from "./sinks/rabbitmq/ConfirmedPublisher.js"
import { makeAlertsPublisher } from "./sinks/rabbitmq/RabbitSink.js"
import { Sinks } from "./Sinks.js"
import { Supervisor } from "./Supervisor.js"

/** How often the rules are evaluated: an incident opens or resolves at most this long after its condition changes. */
export const ALERT_CHECK_INTERVAL = Duration.seconds(1)

export const notificationMessage = (n: Notification): Outbound => ({
  exchange: NOTIFICATIONS,
  routingKey: "",
  body: Buffer.from(JSON.stringify(n)),
  messageId: `${n.id}:${n.state}`,
  timestamp: Date.parse(n.at),
  persistent: true,
  kind: "alert",
  traceparent: undefined,
})

const log = (n: Notification) => {
  const line = n.state === "open" ? `alert (${n.rule}): ${n.message}` : `alert cleared (${n.rule}): ${n.message}`
  const logged =
    n.state === "resolved"
      ? Effect.logInfo(line)
      : n.severity === "error"
        ? Effect.logError(line)
        : Effect.logWarning(line)
  return logged.pipe(
    Effect.annotateLogs({
      alert: n.id,
      ...(n.exchange === undefined ? {} : { exchange: n.exchange }),
      ...(n.symbol === undefined ? {} : { symbol: n.symbol }),
    }),
  )
}

/**
 * The data-quality alerts actor: every second it evaluates the seed's rules (a symbol silent past
 * ALERT_SYMBOL_SILENT_MS, every symbol silent past ALERT_ALL_SILENT_MS, a trade-id gap, a feed in backoff) over the
 * feeds' counters and the health registry. Each incident is logged and published once when it opens and once when
 * it resolves, as JSON on `neuraltrade.notifications`, through a publisher of its own so that alerts never queue
 * behind market data that a full queue holds back, and to the sinks that carry alerts (Redis `alerts`).
 */
export class Alerts extends Effect.Service<Alerts>()("ingestd/Alerts", {
  scoped: Effect.gen(function* () {
    const config = yield* AppConfig
    const health = yield* Health
    const aggregators = yield* Aggregators
    const rabbit = yield* Rabbit
    const supervisor = yield* Supervisor
    const sinks = yield* Sinks
    const publish = Option.isSome(rabbit.broker) ? yield* makeAlertsPublisher(rabbit.broker.value) : () => Effect.void
    const book = new IncidentBook()
    const open = yield* Ref.make<ReadonlyArray<Notification>>([])

    const check = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      const feeds = [...aggregators.ports].map(([exchange, port]) => {
        port.stats.sample(now)
        return { exchange, startedAt: port.stats.startedAt, symbols: port.stats.all() }
      })
      const report = yield* health.report
      const components = Object.entries(report.components).map(([name, c]) => ({ name, ...c }))
      const raised = book.update(now, evaluateRules(now, config.alerts, feeds, components))
      yield* Ref.set(open, book.current())
      for (const n of raised) {
        yield* log(n)
        yield* Metric.increment(
          Metric.tagged(
            Metric.tagged(Metric.tagged(Metrics.alerts, "rule", n.rule), "severity", n.severity),
            "state",
            n.state,
          ),
        )
      }
      yield* publish(raised.map(notificationMessage))
      yield* sinks.alerts(raised)
    })

    yield* supervisor.spawn("alerts", Effect.forever(Effect.zipRight(check, Effect.sleep(ALERT_CHECK_INTERVAL))))
    return { open: Ref.get(open) } as const
  }),
}) {}
