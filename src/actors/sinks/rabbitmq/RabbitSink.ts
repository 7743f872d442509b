import { Duration, Effect, Option } from "effect"
import { AppConfig } from "../../../layers/AppConfig.js"
import * as Metrics from "../../../layers/Metrics.js"
import { Rabbit, type RabbitBroker } from "../../../layers/Rabbit.js"
import { enrich } from "../../../domain/Enrichment.js"
import type { Candle } from "../../../schema/Candle.js"
import type { Quote, Trade } from "../../../schema/Market.js"
import type { TradeTick } from "../../aggregation/Aggregator.js"
import type { SinkPlugin } from "../registry.js"
import { makeSink, SinkUnavailable, spillDir } from "../Sink.js"
import { makeConfirmedPublisher, type Outbound, type PublishFailed } from "./ConfirmedPublisher.js"
import { candleMessage, tickBatchMessage, tickMessage, type TickRecord, tickRecord } from "./Messages.js"

/** What the market sink buffers: a candle with the trace context it was produced under, or a tick's record. */
export type MarketRecord = { readonly c: Candle; readonly tp?: string } | TickRecord

const isCandle = (r: MarketRecord): r is { readonly c: Candle; readonly tp?: string } => "c" in r

/** A record as a disk line: the candle or the tick's record as JSON. */
export const encodeRecord = (r: MarketRecord): string => JSON.stringify(r)

/**
 * A record as this process wrote it to the disk buffer. Replays run at disk speed through millions of ticks, so
 * the check is of shape only: what wrote the line is this same code, or the version before it, which kept a tick
 * as its trade and quote (`{"t":{"trade","quote"},"tp"}`); such a line is turned into the record it would be now.
 */
export const decodeRecord = (line: string): MarketRecord | undefined => {
  try {
    const r = JSON.parse(line) as {
      c?: { openTime?: unknown }
      json?: unknown
      tradeId?: unknown
      t?: { trade?: Trade; quote?: Quote }
      tp?: string
    }
    if (typeof r.c?.openTime === "number") return r as MarketRecord
    if (typeof r.json === "string" && typeof r.tradeId === "string") return r as MarketRecord
    if (typeof r.t?.trade?.tradeId === "string") return tickRecord(enrich(r.t.trade, r.t.quote), r.tp)
  } catch {
    // not JSON: counted by the caller
  }
  return undefined
}

/** What the broker did not confirm, as the records to send again. */
export const unavailable =
  <M, R>(sink: string, recordsOf: (item: M) => ReadonlyArray<R>) =>
  (e: PublishFailed<M>) =>
    new SinkUnavailable({ sink, reason: `RabbitMQ: ${e.reason}`, remaining: e.unconfirmed.flatMap(recordsOf) })

/** Records per write: a second's worth of a busy exchange, cut into messages of at most TICK_BATCH_MAX ticks. */
const RECORDS_PER_WRITE = 20_000

interface Item {
  readonly message: Outbound
  readonly records: ReadonlyArray<MarketRecord>
}

/** Candles one per message; ticks grouped per symbol, in order, `max` per message (1: one message per tick). */
export const marketMessages = (records: ReadonlyArray<MarketRecord>, max: number): Array<Item> => {
  const items: Array<Item> = []
  // By exchange, then symbol: the two strings are the trade's own, whose hashes V8 keeps, where a joined key would be
  // a new string to build and hash for every tick.
  const open = new Map<string, Map<string, Array<TickRecord>>>()
  const close = (group: Array<TickRecord>) =>
    items.push({ message: max === 1 ? tickMessage(group[0]!) : tickBatchMessage(group), records: group })
  for (const r of records) {
    if (isCandle(r)) {
      items.push({ message: candleMessage(r.c, r.tp), records: [r] })
      continue
    }
    let groups = open.get(r.exchange)
    if (groups === undefined) open.set(r.exchange, (groups = new Map()))
    let group = groups.get(r.symbol)
    if (group === undefined) groups.set(r.symbol, (group = []))
    group.push(r)
    if (group.length >= max) {
      close(group)
      groups.delete(r.symbol)
    }
  }
  for (const groups of open.values()) for (const group of groups.values()) close(group)
  return items
}

/**
 * Candles (persistent) and ticks (non-persistent, batched per symbol) to `neuraltrade.market`, when RABBITMQ_URL
 * is set. A message counts as delivered only when the broker confirms it; nacked and unconfirmed ones are sent
 * again (at-least-once; consumers dedupe by messageId, ticks by trade id).
 */
export const RabbitSink = {
  name: "rabbitmq",
  make: Effect.gen(function* () {
    const config = yield* AppConfig
    const rabbit = yield* Rabbit
    if (Option.isNone(rabbit.broker)) return undefined
    const publisher = yield* makeConfirmedPublisher(rabbit.broker.value, config.publishWindow)
    const delivered = Metrics.tickDelivered("rabbitmq")
    const sink = yield* makeSink<MarketRecord>({
      name: "rabbitmq",
      component: "sink:rabbitmq",
      batchSize: RECORDS_PER_WRITE,
      linger: config.tickBatch.wait,
      memoryRecords: config.sinkBuffer.memoryRecords,
      spill: {
        dir: spillDir(config.dataDir, "rabbitmq"),
        maxBytes: config.sinkBuffer.diskMaxBytes,
        encode: encodeRecord,
        decode: decodeRecord,
      },
      write: (records) =>
        publisher.publish(marketMessages(records, config.tickBatch.max)).pipe(
          Effect.mapError(unavailable("rabbitmq", (i) => i.records)),
          Effect.tap(() => {
            // Records are buffered in the order they came, so the first tick is the oldest.
            const first = records.find((r) => !isCandle(r)) as TickRecord | undefined
            return first === undefined ? Effect.void : delivered(first.timestamp)
          }),
        ),
    })
    return {
      name: sink.name,
      status: sink.status,
      candles: (cs: ReadonlyArray<Candle>, tp?: string) =>
        sink.offer(tp === undefined ? cs.map((c) => ({ c })) : cs.map((c) => ({ c, tp }))),
      ticks: (ts: ReadonlyArray<TradeTick>, tp?: string) => sink.offer(ts.map((t) => tickRecord(t, tp))),
    }
  }),
} satisfies SinkPlugin

/**
 * The alerts' own publisher, so that a notification never queues behind market data a full queue holds back. It
 * never spills: notifications are few and off the data path, so a full memory buffer only makes the alerts actor
 * wait, never a feed.
 */
export const makeAlertsPublisher = (broker: RabbitBroker) =>
  Effect.gen(function* () {
    const config = yield* AppConfig
    const publisher = yield* makeConfirmedPublisher(broker, config.publishWindow)
    const sink = yield* makeSink<Outbound>({
      name: "alerts",
      component: "publisher:alerts",
      batchSize: config.publishWindow,
      linger: Duration.zero,
      memoryRecords: config.mailboxCapacity,
      spill: undefined,
      write: (messages) =>
        publisher
          .publish(messages.map((message) => ({ message })))
          .pipe(Effect.mapError(unavailable("alerts", (i) => [i.message]))),
    })
    return sink.offer
  })
