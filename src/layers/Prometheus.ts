import { Effect, Metric, MetricState } from "effect"
import { FAMILIES } from "./Metrics.js"

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")
const labels = (tags: ReadonlyArray<{ key: string; value: string }>, extra?: string) => {
  const parts = tags.map((t) => `${t.key}="${escapeLabel(t.value)}"`)
  if (extra !== undefined) parts.push(extra)
  return parts.length === 0 ? "" : `{${parts.join(",")}}`
}
const num = (n: number) => (Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN")

/**
 * Every Effect metric of this process in the Prometheus text exposition format (version 0.0.4). Each declared
 * family is listed (HELP and TYPE) before its first sample, so that a dashboard's query names one that exists.
 */
export const renderPrometheus = Effect.gen(function* () {
  const snapshot = yield* Metric.snapshot
  const families = new Map<string, { type: string; help: string; lines: Array<string> }>()
  const family = (name: string, type: string, help: string | undefined) => {
    const existing = families.get(name)
    if (existing !== undefined) return existing
    const created = { type, help: help ?? name, lines: [] as Array<string> }
    families.set(name, created)
    return created
  }
  for (const f of FAMILIES) family(f.name, f.type, f.help)
  for (const { metricKey: key, metricState: state } of snapshot) {
    // The runtime's own fiber metrics: main turns them off, but the root fiber records a few before it does.
    if (key.name.startsWith("effect_fiber_")) continue
    const name = key.name.replace(/[^a-zA-Z0-9_:]/g, "_")
    const help = key.description._tag === "Some" ? key.description.value : undefined
    if (MetricState.isCounterState(state)) {
      family(name, "counter", help).lines.push(`${name}${labels(key.tags)} ${num(Number(state.count))}`)
    } else if (MetricState.isGaugeState(state)) {
      family(name, "gauge", help).lines.push(`${name}${labels(key.tags)} ${num(Number(state.value))}`)
    } else if (MetricState.isHistogramState(state)) {
      const f = family(name, "histogram", help)
      // Effect's boundaries may end at Infinity; the +Inf bucket is written once, below, from the total count.
      for (const [le, count] of state.buckets)
        if (Number.isFinite(le)) f.lines.push(`${name}_bucket${labels(key.tags, `le="${num(le)}"`)} ${count}`)
      f.lines.push(`${name}_bucket${labels(key.tags, 'le="+Inf"')} ${state.count}`)
      f.lines.push(`${name}_sum${labels(key.tags)} ${num(state.sum)}`)
      f.lines.push(`${name}_count${labels(key.tags)} ${state.count}`)
    }
  }
  const out: Array<string> = []
  for (const [name, f] of [...families].sort(([a], [b]) => a.localeCompare(b))) {
    out.push(`# HELP ${name} ${f.help.replace(/\n/g, " ")}`, `# TYPE ${name} ${f.type}`, ...f.lines)
  }
  return `${out.join("\n")}\n`
})
