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

/** A queue's dead letters go to `neuraltrade.dlx` under the queue's own name, where `<queue>.dlq` is bound. */
const deadLettered = (queue: string) => ({ "x-dead-letter-exchange": DLX, "x-dead-letter-routing-key": queue })

export const EXCHANGES: ReadonlyArray<ExchangeDeclaration> = [
  { name: MARKET, type: "topic" },
  { name: SIGNALS, type: "direct" },
  { name: NOTIFICATIONS, type: "fanout" },
  { name: DLX, type: "direct" },
]

export const QUEUES: ReadonlyArray<QueueDeclaration> = [
  {
    name: TICKS_QUEUE,
    arguments: {
      ...deadLettered(TICKS_QUEUE),
      "x-message-ttl": 60_000,
      "x-max-length": 100_000,
      "x-overflow": "reject-publish",
    },
    bindings: [{ exchange: MARKET, key: "tick.#" }],
  },
  {
    name: OHLCV_QUEUE,
    arguments: { ...deadLettered(OHLCV_QUEUE), "x-message-ttl": 300_000 },
    bindings: [{ exchange: MARKET, key: "ohlcv.#" }],
  },
  {
    name: SIGNALS_QUEUE,
    arguments: { ...deadLettered(SIGNALS_QUEUE), "x-max-priority": 10 },
    bindings: [{ exchange: SIGNALS, key: "signal.high" }],
  },
  ...(
    [
      [TICKS_QUEUE, "market.ticks.dlq"],
      [OHLCV_QUEUE, "market.ohlcv.dlq"],
      [SIGNALS_QUEUE, "signals.dlq"],
    ] as const
  ).map(([source, dlq]): QueueDeclaration => ({
    name: dlq,
    arguments: {},
    bindings: [{ exchange: DLX, key: source }],
  })),
]

/** `BTC/USDT` → `BTC_USDT`, as routing keys and Influx tags write symbols. */
export const symbolKey = (symbol: string): string => symbol.replace("/", "_")

export const tickRoutingKey = (exchange: string, symbol: string): string => `tick.${exchange}.${symbolKey(symbol)}`

export const candleRoutingKey = (exchange: string, symbol: string, timeframe: string): string =>
  `ohlcv.${exchange}.${symbolKey(symbol)}.${timeframe}`

/** The candle's natural key: a revision is a new message, a re-send of the same revision is not. */
export const candleMessageId = (c: {
  readonly exchange: string
  readonly symbol: string
  readonly timeframe: string
  readonly openTime: number
  readonly revision: number
}): string => `${c.exchange}:${c.symbol}:${c.timeframe}:${c.openTime}:${c.revision}`
