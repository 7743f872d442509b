import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import * as Resource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import * as Headers from "@effect/platform/Headers"
import { DiagLogLevel, diag } from "@opentelemetry/api"
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http"
import { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } from "@opentelemetry/sdk-trace-base"
import { Duration, Effect, Layer, Option, Runtime, Tracer } from "effect"
import { AppConfig } from "./AppConfig.js"

/** Export failures repeat every batch while the collector is down; one line per this interval is enough. */
const DIAG_LOG_INTERVAL_MS = 60_000

/** Every aggregator a feed batch reaches asks for the same span's header: worked out once per span. */
const traceparents = new WeakMap<Tracer.Span, string>()

/** The W3C `traceparent` of a span, to carry it across the broker. */
export const traceparentOf = (span: Tracer.AnySpan): string | undefined => {
  if (span._tag !== "Span") return undefined
  let header = traceparents.get(span)
  if (header === undefined) {
    header = `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`
    traceparents.set(span, header)
  }
  return header
}

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
    // The SDK reports on its own stack; its lines go through the daemon's logger like every other.
    const log = Runtime.runFork(yield* Effect.runtime<never>())
    let lastDiag = 0
    const report =
      (level: "warn" | "error") =>
      (message: string, ...args: Array<unknown>) => {
        const now = Date.now()
        if (now - lastDiag < DIAG_LOG_INTERVAL_MS) return
        lastDiag = now
        const text = `OpenTelemetry: ${message} ${args.map(String).join(" ")}`.trim()
        log(level === "error" ? Effect.logError(text) : Effect.logWarning(text))
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
    const provider = NodeSdk.layerTracerProvider(
      new BatchSpanProcessor(new OTLPTraceExporter({ url: `${t.endpoint}/v1/traces` }), {
        maxQueueSize: 8_192,
        scheduledDelayMillis: 1_000,
      }),
      {
        sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(t.sampleRatio) }),
        shutdownTimeout: Duration.seconds(5),
      },
    ).pipe(Layer.provideMerge(Resource.layer({ serviceName: t.serviceName })))
    // Spans go through the OpenTelemetry SDK, but OpenTelemetry's own context is not re-entered on every fiber
    // step (what the stock layer does): nothing in this process reads it, and it cost a fifth of the feed's
    // throughput (bench/tracing.ts).
    const tracer = Layer.unwrapEffect(
      Effect.map(OtelTracer.make, (otel) =>
        Layer.setTracer(
          Tracer.make({
            span: (name, parent, context, links, startTime, kind, options) =>
              otel.span(name, parent, context, links, startTime, kind, options),
            context: (f) => f(),
          }),
        ),
      ),
    )
    return tracer.pipe(Layer.provide(OtelTracer.layerTracer), Layer.provide(provider))
  }),
)
