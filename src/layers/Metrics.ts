import { Metric, MetricBoundaries } from "effect"

/**
 * The pipeline's instruments. Labels are bounded sets (exchange, symbol from configuration, reason codes):
 * never ids or prices.
 */
export const framesReceived = Metric.counter("feed_frames_received_total", {
  description: "WebSocket text frames received",
  incremental: true,
})
export const framesRejected = Metric.counter("feed_frames_rejected_total", {
  description: "Frames refused, by reason (malformed_json, schema, unknown_frame, oversize)",
  incremental: true,
})
export const framesIgnored = Metric.counter("feed_frames_ignored_total", {
  description: "Frames for streams or instruments not subscribed",
  incremental: true,
})
export const tradesReceived = Metric.counter("trades_received_total", {
  description: "Trades that entered a candle, per exchange and symbol",
  incremental: true,
})
export const tradesDiscarded = Metric.counter("trades_discarded_total", {
  description: "Trades not counted, by reason (duplicate, too_late, and validation failures)",
  incremental: true,
})
export const lateTrades = Metric.counter("trades_late_total", {
  description: "Trades whose candle was already final; each amends it",
  incremental: true,
})
export const priceJumps = Metric.counter("trades_price_jump_total", {
  description: "Trades more than 10% away from the previous trade (kept, flagged)",
  incremental: true,
})
export const gapsDetected = Metric.counter("trade_gaps_total", {
  description: "Trade-id gaps detected",
  incremental: true,
})
export const gapTrades = Metric.counter("trade_gap_missing_trades_total", {
  description: "Trades missing inside detected gaps",
  incremental: true,
})
export const candlesEmitted = Metric.counter("candles_emitted_total", {
  description: "Candles emitted by aggregators (finals, revisions and shutdown snapshots)",
  incremental: true,
})
export const candleRevisions = Metric.counter("candle_revisions_total", {
  description: "Candles re-emitted after they were final",
  incremental: true,
})
export const candlesStored = Metric.counter("candles_stored_total", {
  description: "Candle rows upserted, per sink",
  incremental: true,
})
export const storeFailures = Metric.counter("store_write_failures_total", {
  description: "Failed store batch writes, by sink and kind (retryable, rejected)",
  incremental: true,
})
export const deadLettered = Metric.counter("dead_lettered_total", {
  description: "Rows or lines written to a dead-letter file, per sink",
  incremental: true,
})
export const deadLetterDiscardedBytes = Metric.counter("dead_letter_discarded_bytes_total", {
  description: "Bytes of dead-letter files deleted to keep the directory under its size limit, per sink",
  incremental: true,
})
export const influxLinesWritten = Metric.counter("influx_lines_written_total", {
  description: "Lines InfluxDB accepted, per writer (market, signals)",
  incremental: true,
})
export const reconnects = Metric.counter("feed_reconnects_total", {
  description: "Feed connection attempts after a failure",
  incremental: true,
})
export const feedPaused = Metric.counter("feed_socket_pauses_total", {
  description: "Times a feed socket was paused because its consumers were behind",
  incremental: true,
})
export const actorRestarts = Metric.counter("actor_restarts_total", {
  description: "Supervised actor restarts",
  incremental: true,
})
export const storeBatchSize = Metric.histogram(
  "store_batch_rows",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
  "Rows per store batch",
)
export const storeLatency = Metric.timerWithBoundaries(
  "store_write_duration_ms",
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
)
export const rotations = Metric.counter("feed_rotations_total", {
  description: "Connections replaced without a gap (Binance 24 h limit, server shutdown notices)",
  incremental: true,
})
export const quietSymbols = Metric.counter("symbol_quiet_total", {
  description: "Times a symbol went silent for longer than its own trade rate makes usual",
  incremental: true,
})
export const published = Metric.counter("rabbitmq_published_total", {
  description: "Records (candles, ticks, alerts) the broker confirmed, by kind; a batch of ticks counts each tick",
  incremental: true,
})
export const publishNacked = Metric.counter("rabbitmq_nacked_total", {
  description: "Publishes the broker refused (nack), by kind; each is republished after back-off",
  incremental: true,
})
export const consumerMessages = Metric.counter("rabbitmq_consumed_total", {
  description: "Messages consumed, by queue and outcome (acked, duplicate, dead_lettered)",
  incremental: true,
})
export const publishBatchSize = Metric.histogram(
  "rabbitmq_publish_batch_messages",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 11 }),
  "Messages per publish batch",
)
export const publishConfirmLatency = Metric.timerWithBoundaries(
  "rabbitmq_confirm_duration_ms",
  [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
)
export const alerts = Metric.counter("alerts_total", {
  description: "Data-quality alert notifications, by rule, severity and state (open, resolved)",
  incremental: true,
})
export const mailboxDepth = Metric.gauge("mailbox_depth", {
  description: "Messages waiting in an actor's mailbox, per actor",
})
export const mailboxCapacity = Metric.gauge("mailbox_capacity", {
  description: "An actor's mailbox capacity; at capacity the actor's producers wait (back-pressure)",
})
export const componentUp = Metric.gauge("component_up", {
  description: "1 when a component (feed connection, sink, actor) is healthy, else 0",
})
export const consumers = Metric.gauge("rabbitmq_consumers", {
  description: "Consumers this process runs on a queue (0 while reconnecting)",
})
export const unreadableCandles = Metric.counter("candles_unreadable_total", {
  description: "Stored candles a restart could not read (skipped, their higher timeframes marked incomplete)",
})
export const deadLetterDepth = Metric.gauge("rabbitmq_dead_letter_messages", {
  description: "Messages in a dead-letter queue at the last read; a policy's bound caps it, dropping the oldest",
})
export const endToEndLatency = Metric.timerWithBoundaries(
  "end_to_end_latency_ms",
  [10, 50, 100, 250, 500, 1000, 2000, 2500, 3000, 5000, 10000, 30000, 60000, 300000],
)
export const frameBatchSize = Metric.histogram(
  "feed_batch_frames",
  MetricBoundaries.exponential({ start: 1, factor: 2, count: 14 }),
  "Frames per batch a feed connection hands to its router",
)
export const processingDuration = Metric.timerWithBoundaries(
  "processing_duration_ms",
  [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 1000],
)
export const restRequests = Metric.counter("rest_requests_total", {
  description: "REST requests to an exchange, by HTTP status (429/418: rate limited, paused for Retry-After)",
  incremental: true,
})

export const backfilledTrades = Metric.counter("backfilled_trades_total", {
  description: "Trades fetched from an exchange's REST history to fill gaps, by exchange and symbol",
  incremental: true,
})

export const backfillFailures = Metric.counter("backfill_failures_total", {
  description:
    "Backfill attempts that failed (REST unavailable or refused, history incomplete), by exchange and symbol",
  incremental: true,
})

export const reconciledCandles = Metric.counter("candles_reconciled_total", {
  description:
    "Final complete 1m candles compared with the exchange's own, by exchange, symbol and result (match, mismatch, unchecked: dropped while the exchange's API was unreachable)",
  incremental: true,
})

export const candleDrift = Metric.counter("candle_drift_total", {
  description: "Fields on which a final 1m candle differed from the exchange's own, by exchange, symbol and field",
  incremental: true,
})

export const sinkSpilled = Metric.counter("sink_spilled_records_total", {
  description: "Records a sink put in its disk buffer because its memory buffer was full or its target down",
  incremental: true,
})
export const sinkCorruptRecords = Metric.counter("sink_corrupt_records_total", {
  description: "Unreadable records skipped while replaying a sink's disk buffer",
  incremental: true,
})
export const sinkBackPressure = Metric.counter("sink_back_pressure_total", {
  description: "Times a sink's buffers were all full, so that its producers (and the feeds) had to wait",
  incremental: true,
})
export const sinkDiskRecords = Metric.gauge("sink_disk_records", {
  description: "Records in a sink's disk buffer, not yet delivered",
})
export const sinkDiskBytes = Metric.gauge("sink_disk_bytes", {
  description: "Bytes in a sink's disk buffer, not yet delivered",
})
export const residentMemory = Metric.gauge("process_resident_memory_bytes", {
  description: "Resident memory of the daemon's process (RSS)",
})
export const heapUsed = Metric.gauge("nodejs_heap_size_used_bytes", {
  description: "V8 heap in use by live and not yet collected objects",
})
export const heapTotal = Metric.gauge("nodejs_heap_size_total_bytes", {
  description: "V8 heap reserved, used or not",
})
export const externalMemory = Metric.gauge("nodejs_external_memory_bytes", {
  description: "Memory of buffers and other objects outside the V8 heap",
})
