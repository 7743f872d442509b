/** The seed's RabbitMQ topology (shared/DESIGN.md), as data: declared at start and after every reconnect. */
export const MARKET = "neuraltrade.market"
export const SIGNALS = "neuraltrade.signals"
export const NOTIFICATIONS = "neuraltrade.notifications"
export const DLX = "neuraltrade.dlx"

export const TICKS_QUEUE = "market.ticks"
export const OHLCV_QUEUE = "market.ohlcv"
export const SIGNALS_QUEUE = "signals.high_confidence"

export interface ExchangeDeclaration {
  readonly name: string
  readonly type: "topic" | "direct" | "fanout"
}

export interface QueueDeclaration {
  readonly name: string
  readonly arguments: Readonly<Record<string, string | number>>
  readonly bindings: ReadonlyArray<{ readonly exchange: string; readonly key: string }>
}

export const TICKS_DLQ = "market.ticks.dlq"
export const OHLCV_DLQ = "market.ohlcv.dlq"
export const SIGNALS_DLQ = "signals.dlq"
export const SEED_DLQS: ReadonlyArray<string> = [TICKS_DLQ, OHLCV_DLQ, SIGNALS_DLQ]

/** A queue's dead letters go to `neuraltrade.dlx` under the dead-letter queue's own name, as the seed declares it. */
const deadLettered = (dlq: string) => ({ "x-dead-letter-exchange": DLX, "x-dead-letter-routing-key": dlq })

export const EXCHANGES: ReadonlyArray<ExchangeDeclaration> = [
  { name: MARKET, type: "topic" },
  { name: SIGNALS, type: "direct" },
  { name: NOTIFICATIONS, type: "fanout" },
  { name: DLX, type: "direct" },
]

/** How long the seed's queues keep an unconsumed message before dead-lettering it. */
export interface SeedTtls {
  readonly ticksMs: number
  readonly ohlcvMs: number
}

/** The seed's own values; anything else conflicts with a broker where the seed's services declared first. */
export const SEED_TTLS: SeedTtls = { ticksMs: 60_000, ohlcvMs: 300_000 }

/** The seed's queues and their dead-letter queues, as the seed declares them (with `ttls` from settings). */
export const seedQueues = (ttls: SeedTtls = SEED_TTLS): ReadonlyArray<QueueDeclaration> => [
  {
    name: TICKS_QUEUE,
    arguments: {
      ...deadLettered(TICKS_DLQ),
      "x-message-ttl": ttls.ticksMs,
      "x-max-length": 100_000,
      "x-overflow": "reject-publish",
    },
    bindings: [{ exchange: MARKET, key: "tick.#" }],
  },
  {
    name: OHLCV_QUEUE,
    arguments: { ...deadLettered(OHLCV_DLQ), "x-message-ttl": ttls.ohlcvMs },
    bindings: [{ exchange: MARKET, key: "ohlcv.#" }],
  },
  {
    name: SIGNALS_QUEUE,
    arguments: { ...deadLettered(SIGNALS_DLQ), "x-max-priority": 10 },
    bindings: [{ exchange: SIGNALS, key: "signal.high" }],
  },
  ...SEED_DLQS.map((dlq): QueueDeclaration => ({
    name: dlq,
    arguments: {},
    bindings: [{ exchange: DLX, key: dlq }],
  })),
]

/** The daemon's own queues, which only it consumes (the seed's are left to their owners). */
export const INGEST_SIGNALS_QUEUE = "ingest.signals"
export const INGEST_OHLCV_QUEUE = "ingest.ohlcv"

/** Where a consumer of our own queue `queue` sets aside a message it cannot handle. */
export const deadLetterQueueOf = (queue: string): string => `${queue}.dlq`

/**
 * One of the daemon's own queues, no TTL, dead-lettering into a queue of its own (`<name>.dlq`), both of `type`;
 * declared by the consumer that reads it, so a queue nobody reads is never declared to fill up.
 */
export const ownQueue = (
  name: string,
  bindings: QueueDeclaration["bindings"],
  type: "quorum" | "classic",
): ReadonlyArray<QueueDeclaration> => {
  const dlq = deadLetterQueueOf(name)
  return [
    { name, arguments: { "x-queue-type": type, ...deadLettered(dlq) }, bindings },
    { name: dlq, arguments: { "x-queue-type": type }, bindings: [{ exchange: DLX, key: dlq }] },
  ]
}

/** `BTC/USDT` → `BTC_USDT`, as routing keys and Influx tags write symbols. */
export const symbolKey = (symbol: string): string => symbol.replace("/", "_")

export const tickRoutingKey = (exchange: string, symbol: string): string => `tick.${exchange}.${symbolKey(symbol)}`

export const candleRoutingKey = (exchange: string, symbol: string, timeframe: string): string =>
  `ohlcv.${exchange}.${symbolKey(symbol)}.${timeframe}`

export const indicatorRoutingKey = (exchange: string, symbol: string, timeframe: string): string =>
  `indicator.${exchange}.${symbolKey(symbol)}.${timeframe}`

/** The candle's natural key: a revision is a new message, a re-send of the same revision is not. */
export const candleMessageId = (c: {
  readonly exchange: string
  readonly symbol: string
  readonly timeframe: string
  readonly openTime: number
  readonly revision: number
}): string => `${c.exchange}:${c.symbol}:${c.timeframe}:${c.openTime}:${c.revision}`
