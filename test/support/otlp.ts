import { createServer, type Server } from "node:http"
import { gunzipSync } from "node:zlib"

/** A span as OTLP/JSON carries it, with its resource's service name and its attributes flattened. */
export interface ReceivedSpan {
  readonly service: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly name: string
  readonly kind: number
  readonly attributes: Record<string, unknown>
  readonly links: ReadonlyArray<{ readonly traceId: string; readonly spanId: string }>
}

type AnyValue = {
  stringValue?: string
  intValue?: string | number
  doubleValue?: number
  boolValue?: boolean
  arrayValue?: { values?: Array<AnyValue> }
}
type KeyValue = { key: string; value: AnyValue }

const valueOf = (v: AnyValue): unknown =>
  v.stringValue ??
  (v.intValue !== undefined ? Number(v.intValue) : undefined) ??
  v.doubleValue ??
  v.boolValue ??
  v.arrayValue?.values?.map(valueOf)

const flatten = (kvs: ReadonlyArray<KeyValue> | undefined) =>
  Object.fromEntries((kvs ?? []).map((kv) => [kv.key, valueOf(kv.value)]))

interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Array<KeyValue> }
    scopeSpans?: Array<{
      spans?: Array<{
        traceId: string
        spanId: string
        parentSpanId?: string
        name: string
        kind: number
        attributes?: Array<KeyValue>
        links?: Array<{ traceId: string; spanId: string }>
      }>
    }>
  }>
}

/**
 * An in-process OTLP/HTTP trace receiver (what Jaeger's 4318 speaks), JSON encoding: it answers
 * `POST /v1/traces` and keeps every span it was sent.
 */
export const startOtlpReceiver = async (): Promise<{
  readonly url: string
  readonly spans: Array<ReceivedSpan>
  readonly requests: () => number
  readonly close: () => Promise<void>
}> => {
  const spans: Array<ReceivedSpan> = []
  let requests = 0
  const server: Server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end()
        return
      }
      requests++
      const raw = Buffer.concat(chunks)
      const body = req.headers["content-encoding"] === "gzip" ? gunzipSync(raw) : raw
      if (!String(req.headers["content-type"]).includes("json")) {
        res.writeHead(415).end("JSON only")
        return
      }
      const request = JSON.parse(body.toString()) as ExportRequest
      for (const rs of request.resourceSpans ?? []) {
        const service = String(flatten(rs.resource?.attributes)["service.name"])
        for (const ss of rs.scopeSpans ?? [])
          for (const s of ss.spans ?? [])
            spans.push({
              service,
              traceId: s.traceId,
              spanId: s.spanId,
              parentSpanId: s.parentSpanId === undefined || s.parentSpanId === "" ? undefined : s.parentSpanId,
              name: s.name,
              kind: s.kind,
              attributes: flatten(s.attributes),
              links: (s.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
            })
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    requests: () => requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** `tsx test/support/otlp.ts`: a receiver in a process of its own (as Jaeger would be); prints its URL. */
if (import.meta.url === `file://${process.argv[1]}`) {
  const receiver = await startOtlpReceiver()
  console.log(receiver.url)
  process.on("SIGTERM", () => {
    console.log(`spans ${receiver.spans.length}`)
    void receiver.close().then(() => process.exit(0))
  })
}
