import type { Effect, Scope } from "effect"
import type { AppConfig } from "../../layers/AppConfig.js"
import type { CandleStore } from "../../layers/CandleStore.js"
import type { Health } from "../../layers/Health.js"
import type { Influx } from "../../layers/Influx.js"
import type { IndicatorStore } from "../../layers/IndicatorStore.js"
import type { LiveHub } from "../../layers/LiveHub.js"
import type { Rabbit } from "../../layers/Rabbit.js"
import type { Notification } from "../../domain/Incidents.js"
import type { Candle } from "../../schema/Candle.js"
import type { TradeTick } from "../aggregation/Aggregator.js"
import type { Fleet } from "../Fleet.js"
import type { Supervisor } from "../Supervisor.js"
import { IndicatorsSink } from "./indicators/IndicatorsSink.js"
import { InfluxSink } from "./influx/InfluxSink.js"
import { LiveSink } from "./live/LiveSink.js"
import { PostgresSink } from "./postgres/PostgresSink.js"
import { RabbitSink } from "./rabbitmq/RabbitSink.js"
import { RedisSink } from "./redis/RedisSink.js"
import type { SinkStatus } from "./Sink.js"

/** A configured sink, as the aggregators see it: what it takes (candles, ticks or both) and its buffers' state. */
export interface MarketSink {
  readonly name: string
  readonly candles?: (candles: ReadonlyArray<Candle>, traceparent?: string) => Effect.Effect<void>
  readonly ticks?: (ticks: ReadonlyArray<TradeTick>, traceparent?: string) => Effect.Effect<void>
  /** Data-quality alerts as they open and resolve, for sinks that carry them too (Redis `alerts`). */
  readonly alerts?: (notifications: ReadonlyArray<Notification>) => Effect.Effect<void>
  readonly status: () => SinkStatus
  /** The sinks this one feeds in turn (the indicator rows' writers), for status and metrics. */
  readonly outputs?: () => ReadonlyArray<SinkStatus>
}

/** What the sinks may ask of the application when they start. */
export type SinkContext =
  AppConfig | Health | Supervisor | CandleStore | IndicatorStore | Rabbit | Influx | LiveHub | Fleet | Scope.Scope

/** A sink: its folder under `sinks/` and one line in `SINKS`. `make` yields undefined where it is not configured. */
export interface SinkPlugin {
  readonly name: string
  readonly make: Effect.Effect<MarketSink | undefined, never, SinkContext>
}

/** Every sink the daemon knows, in the order they are started (and stopped in reverse). */
export const SINKS: ReadonlyArray<SinkPlugin> = [
  PostgresSink,
  RabbitSink,
  InfluxSink,
  IndicatorsSink,
  RedisSink,
  LiveSink,
]
