import { Duration, Effect, Metric, MetricBoundaries } from "effect"

/** Every family this process declares, so that `/metrics` lists each one before its first sample. */
export const FAMILIES: Array<{ readonly name: string; readonly type: string; readonly help: string }> = []

const declared = <M>(name: string, type: string, help: string, metric: M): M => {
  FAMILIES.push({ name, type, help })
  return metric
}

/** Counters only go up, as Prometheus reads them. */
const counter = (name: string, description: string) =>
  declared(name, "counter", description, Metric.counter(name, { description, incremental: true }))
const gauge = (name: string, description: string) =>
  declared(name, "gauge", description, Metric.gauge(name, { description }))
const histogram = (name: string, boundaries: MetricBoundaries.MetricBoundaries, description: string) =>
  declared(name, "histogram", description, Metric.histogram(name, boundaries, description))
/** Durations in milliseconds. */
const timer = (name: string, boundaries: ReadonlyArray<number>, description: string) =>
  declared(name, "histogram", description, Metric.timerWithBoundaries(name, boundaries, description))

/**
 * The pipeline's instruments. Labels are bounded sets (exchange, symbol from configuration, reason codes):
 * never ids or prices.
 */
export const framesReceived = counter("feed_frames_received_total", "WebSocket text frames received")
export const framesRejected = counter(
  "feed_frames_rejected_total",
  "Frames refused, by reason (malformed_json, schema, unknown_frame, oversize)",
)
export const framesIgnored = counter("feed_frames_ignored_total", "Frames for streams or instruments not subscribed")
export const tradesReceived = counter("trades_received_total", "Trades that entered a candle, per exchange and symbol")
export const tradesDiscarded = counter(
  "trades_discarded_total",
  "Trades not counted, by reason (duplicate, too_late, and validation failures)",
)
export const lateTrades = counter("trades_late_total", "Trades whose candle was already final; each amends it")
export const priceJumps = counter(
  "trades_price_jump_total",
  "Trades more than 10% away from the previous trade (kept, flagged)",
)
export const gapsDetected = counter("trade_gaps_total", "Trade-id gaps detected")
export const gapTrades = counter("trade_gap_missing_trades_total", "Trades missing inside detected gaps")
export const candlesEmitted = counter(
  "candles_emitted_total",
  "Candles emitted by aggregators (finals, revisions and shutdown snapshots)",
)
export const candleRevisions = counter("candle_revisions_total", "Candles re-emitted after they were final")
export const candlesStored = counter("candles_stored_total", "Candle rows upserted, per sink")
export const storeFailures = counter(
  "store_write_failures_total",
  "Failed store batch writes, by sink and kind (retryable, rejected)",
)
export const deadLettered = counter("dead_lettered_total", "Rows or lines written to a dead-letter file, per sink")
export const deadLetterDiscardedBytes = counter(
  "dead_letter_discarded_bytes_total",
  "Bytes of dead-letter files deleted to keep the directory under its size limit, per sink",
)
export const influxLinesWritten = counter(
  "influx_lines_written_total",
  "Lines InfluxDB accepted, per writer (market, signals)",
)
export const reconnects = counter("feed_reconnects_total", "Feed connection attempts after a failure")
export const feedPaused = counter(
  "feed_socket_pauses_total",
  "Times a feed socket was paused because its consumers were behind",
)
export const retentionDeleted = counter(
  "retention_deleted_rows_total",
  "Rows the retention job deleted past their timeframe's limit, per table and timeframe",
)
export const actorRestarts = counter("actor_restarts_total", "Supervised actor restarts")
export const storeBatchSize = histogram(
  "store_batch_rows",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
  "Rows per store batch",
)
export const storeLatency = timer(
  "store_write_duration_ms",
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
  "Time one store batch took to write, per sink",
)
export const rotations = counter(
  "feed_rotations_total",
  "Connections replaced without a gap (Binance 24 h limit, server shutdown notices)",
)
export const quietSymbols = counter(
  "symbol_quiet_total",
  "Times a symbol went silent for longer than its own trade rate makes usual",
)
export const published = counter(
  "rabbitmq_published_total",
  "Records (candles, ticks, alerts) the broker confirmed, by kind; a batch of ticks counts each tick",
)
export const publishNacked = counter(
  "rabbitmq_nacked_total",
  "Publishes the broker refused (nack), by kind; each is republished after back-off",
)
export const consumerMessages = counter(
  "rabbitmq_consumed_total",
  "Messages consumed, by queue and outcome (acked, duplicate, dead_lettered)",
)
export const publishBatchSize = histogram(
  "rabbitmq_publish_batch_messages",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 11 }),
  "Messages per publish batch",
)
export const publishConfirmLatency = timer(
  "rabbitmq_confirm_duration_ms",
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
  "Time from publishing a batch to the broker's confirm of it",
)
export const alerts = counter(
  "alerts_total",
  "Data-quality alert notifications, by rule, severity and state (open, resolved)",
)
export const mailboxDepth = gauge("mailbox_depth", "Messages waiting in an actor's mailbox, per actor")
export const mailboxCapacity = gauge(
  "mailbox_capacity",
  "An actor's mailbox capacity; at capacity the actor's producers wait (back-pressure)",
)
export const componentUp = gauge("component_up", "1 when a component (feed connection, sink, actor) is healthy, else 0")
export const consumers = gauge("rabbitmq_consumers", "Consumers this process runs on a queue (0 while reconnecting)")
export const unreadableCandles = counter(
  "candles_unreadable_total",
  "Stored candles a restart could not read (skipped, their higher timeframes marked incomplete)",
)
export const deadLetterDepth = gauge(
  "rabbitmq_dead_letter_messages",
  "Messages in a dead-letter queue at the last read; a policy's bound caps it, dropping the oldest",
)
export const endToEndLatency = timer(
  "end_to_end_latency_ms",
  [10, 50, 100, 250, 500, 750, 1000, 1250, 1500, 1750, 2000, 2500, 3000, 5000, 10000, 30000, 60000, 300000],
  "Exchange time (ticks) or candle close (candles) to delivery, per sink",
)

/**
 * Records, for a sink's write that delivered ticks, exchange time → delivered of its oldest tick: one sample per
 * write, which bounds every tick of the write rather than flattering them.
 */
export const tickDelivered = (sink: string) => {
  const latency = Metric.tagged(Metric.tagged(endToEndLatency, "sink", sink), "kind", "tick")
  return (oldestExchangeMs: number) =>
    Effect.clockWith((clock) =>
      Metric.update(latency, Duration.millis(Math.max(0, clock.unsafeCurrentTimeMillis() - oldestExchangeMs))),
    )
}
export const frameBatchSize = histogram(
  "feed_batch_frames",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
  "Frames per batch a feed connection hands to its router",
)
export const processingDuration = timer(
  "processing_duration_ms",
  [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000],
  "Time per batch in each stage of the hot path (decode, aggregate), per exchange",
)
export const restRequests = counter(
  "rest_requests_total",
  "REST requests to an exchange, by HTTP status (429/418: rate limited, paused for Retry-After)",
)

export const backfilledTrades = counter(
  "backfilled_trades_total",
  "Trades fetched from an exchange's REST history to fill gaps, by exchange and symbol",
)

export const backfillFailures = counter(
  "backfill_failures_total",
  "Backfill attempts that failed (REST unavailable or refused, history incomplete), by exchange and symbol",
)

export const reconciledCandles = counter(
  "candles_reconciled_total",
  "Final complete 1m candles compared with the exchange's own, by exchange, symbol and result (match, mismatch, unchecked: dropped while the exchange's API was unreachable)",
)

export const candleDrift = counter(
  "candle_drift_total",
  "Fields on which a final 1m candle differed from the exchange's own, by exchange, symbol and field",
)

export const sinkSpilled = counter(
  "sink_spilled_records_total",
  "Records a sink put in its disk buffer because its memory buffer was full or its target down",
)
export const sinkCorruptRecords = counter(
  "sink_corrupt_records_total",
  "Unreadable records skipped while replaying a sink's disk buffer",
)
export const sinkBackPressure = counter(
  "sink_back_pressure_total",
  "Times a sink's buffers were all full, so that its producers (and the feeds) had to wait",
)
export const sinkDiskRecords = gauge("sink_disk_records", "Records in a sink's disk buffer, not yet delivered")
export const sinkDiskBytes = gauge("sink_disk_bytes", "Bytes in a sink's disk buffer, not yet delivered")
export const residentMemory = gauge("process_resident_memory_bytes", "Resident memory of the daemon's process (RSS)")
export const heapUsed = gauge("nodejs_heap_size_used_bytes", "V8 heap in use by live and not yet collected objects")
export const heapTotal = gauge("nodejs_heap_size_total_bytes", "V8 heap reserved, used or not")
export const externalMemory = gauge(
  "nodejs_external_memory_bytes",
  "Memory of buffers and other objects outside the V8 heap",
)
export const eventLoopDelayP99 = gauge(
  "nodejs_eventloop_delay_p99_seconds",
  "How late the event loop ran (99th percentile) since the last scrape: reading every socket waits that long",
)
export const eventLoopDelayMax = gauge(
  "nodejs_eventloop_delay_max_seconds",
  "The longest the event loop was late since the last scrape",
)
export const liveClients = gauge("live_clients", "Pages connected to /api/live")
export const liveClientsDropped = counter(
  "live_clients_dropped_total",
  "Live clients dropped for leaving more than LIVE_CLIENT_BUFFER_BYTES unread",
)
export const liveRefused = counter("live_connections_refused_total", "Connections to /api/live refused, per reason")
export const fleetMembers = gauge("fleet_members", "Live members of this daemon's fleet, as it last read them")
export const fleetSymbolsOwned = gauge(
  "fleet_symbols_owned",
  "Symbols whose lease this member holds and ingests, per exchange",
)
export const fleetLeaseAge = gauge(
  "fleet_lease_age_seconds",
  "Seconds since this member last renewed its leases in PostgreSQL; past FLEET_TAKEOVER_MS * 0.6 others may take them",
)
export const fleetTakeovers = counter(
  "fleet_takeovers_total",
  "Symbols this member took over from another member whose lease had lapsed, per exchange",
)
export const fleetLeasesLost = counter(
  "fleet_leases_lost_total",
  "Symbols this member stopped because its lease lapsed or moved on, per exchange",
)
export const fleetFencedCandles = counter(
  "fleet_fenced_candles_total",
  "Candles not written because this member no longer held their symbol's lease (fencing)",
)
