import {
  Cause,
  Context,
  Effect,
  FiberRef,
  FiberRefs,
  HashMap,
  Inspectable,
  Layer,
  Logger,
  Option,
  Tracer,
} from "effect"
import { AppConfig } from "./AppConfig.js"

/** A log line's part as text; a value JSON cannot hold (a circular error cause) still gets its one-line form. */
const text = (x: unknown): string => {
  if (typeof x === "string") return x
  try {
    return Inspectable.format(x)
  } catch {
    return defectText(x)
  }
}

/**
 * One JSON object per line: time, level, message, the fiber's annotations flattened (actor, exchange, symbol, …),
 * and the trace and span id of the current span, so a log line leads to its trace in Jaeger. Secrets are
 * `Redacted` everywhere in the process and render as `<redacted>`.
 */
export const structuredLogger = Logger.make(({ logLevel, message, cause, annotations, context, date }) => {
  const parts = Array.isArray(message) ? (message as ReadonlyArray<unknown>) : [message]
  const record: Record<string, unknown> = {
    time: date.toISOString(),
    level: logLevel.label.toLowerCase(),
    message: parts.length === 0 ? "" : text(parts[0]),
  }
  if (parts.length > 1) record["detail"] = parts.slice(1).map(text).join(" ")
  for (const [key, value] of HashMap.toEntries(annotations)) record[key] = value
  const span = Context.getOption(FiberRefs.getOrDefault(context, FiberRef.currentContext), Tracer.ParentSpan)
  if (Option.isSome(span)) {
    record["trace_id"] = span.value.traceId
    record["span_id"] = span.value.spanId
  }
  if (!Cause.isEmpty(cause)) record["cause"] = Cause.pretty(cause, { renderErrorCause: true })
  return JSON.stringify(record)
})

/** JSON lines for log shippers by default, human-readable in a terminal; LOG_LEVEL sets the threshold. */
export const LoggingLive = Layer.unwrapEffect(
  Effect.map(AppConfig, (config) =>
    Layer.merge(
      Logger.replace(
        Logger.defaultLogger,
        process.stdout.isTTY ? Logger.prettyLoggerDefault : Logger.withConsoleLog(structuredLogger),
      ),
      Logger.minimumLogLevel(config.logLevel),
    ),
  ),
)

/**
 * What a thrown value says, in one line: `Name: message` for an Error (whose own JSON form is `{}`), the value
 * itself otherwise. The stack goes to the log line's `cause` field.
 */
export const defectText = (u: unknown): string => {
  if (u instanceof Error) return `${u.name}: ${u.message}`
  if (typeof u === "object" && u !== null && "_tag" in u) {
    const tagged = u as { readonly _tag: unknown; readonly message?: unknown }
    return typeof tagged.message === "string" && tagged.message.length > 0
      ? `${String(tagged._tag)}: ${tagged.message}`
      : String(tagged._tag)
  }
  return Inspectable.format(u)
}
