import { NodeSdk } from "@effect/opentelemetry"
import { HttpTraceContext } from "@effect/platform"
import * as Headers from "@effect/platform/Headers"
import { DiagLogLevel, diag } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base"
import { Duration, Effect, Layer, Option, type Tracer } from "effect"
import { AppConfig } from "./AppConfig.js"

/** Export failures repeat every batch while the collector is down; one line per this interval is enough. */
const DIAG_LOG_INTERVAL_MS = 60_000

/** The W3C `traceparent` of a span, to carry it across the broker. */
export const traceparentOf = (span: Tracer.AnySpan): string | undefined =>
  span._tag === "Span" ? HttpTraceContext.toHeaders(span).traceparent : undefined

/** The span a message's `traceparent` header names, if it carries a valid one. */
export const spanFromHeaders = (headers: Record<string, unknown> | undefined): Option.Option<Tracer.ExternalSpan> => {
  const traceparent = headers?.["traceparent"]
  if (typeof traceparent !== "string") return Option.none()
  return HttpTraceContext.w3c(Headers.fromInput({ traceparent }))
}

/** `traceparent` of the current span, if there is one. */
export const currentTraceparent: Effect.Effect<string | undefined> = Effect.map(Effect.currentSpan, (span) =>
  traceparentOf(span),
).pipe(Effect.orElseSucceed(() => undefined))

/**
 * OpenTelemetry traces over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT (Jaeger's 4318), sampled parent-based at
 * OTEL_TRACES_SAMPLER_ARG. Without an endpoint Effect's own tracer stays in place: spans still give logs their
 * trace ids and messages their `traceparent`, and nothing is exported. Spans still buffered are flushed when the
 * layer is released, which is last, after every actor has stopped.
 */
export const TracingLive = Layer.unwrapEffect(
  Effect.gen(function* () {
    const config = yield* AppConfig
    if (Option.isNone(config.telemetry)) return Layer.empty
    const t = config.telemetry.value
    let lastDiag = 0
    const report =
      (level: "warn" | "error") =>
      (message: string, ...args: Array<unknown>) => {
        const now = Date.now()
        if (now - lastDiag < DIAG_LOG_INTERVAL_MS) return
        lastDiag = now
        const text = `OpenTelemetry: ${message} ${args.map(String).join(" ")}`.trim()
        Effect.runFork(level === "error" ? Effect.logError(text) : Effect.logWarning(text))
      }
    diag.setLogger(
      {
        error: report("error"),
        warn: report("warn"),
        info: () => undefined,
        debug: () => undefined,
        verbose: () => undefined,
      },
      { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true },
    )
    yield* Effect.logInfo(
      `tracing: exporting to ${t.endpoint}/v1/traces as ${t.serviceName}, sampling ${t.sampleRatio * 100}% of traces`,
    )
    return NodeSdk.layer(() => ({
      resource: { serviceName: t.serviceName },
      spanProcessor: new BatchSpanProcessor(new OTLPTraceExporter({ url: `${t.endpoint}/v1/traces` }), {
        maxQueueSize: 8_192,
        scheduledDelayMillis: 1_000,
      }),
      tracerConfig: { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(t.sampleRatio) }) },
      shutdownTimeout: Duration.seconds(5),
    }))
  }),
)
