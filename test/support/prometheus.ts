/** One sample of a Prometheus text exposition. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y

/**
 * A strict parser of the text exposition format 0.0.4: every line must be a comment, a HELP or TYPE line, or a
 * sample of a family whose TYPE came first, with well-formed labels and a numeric value; anything else throws
 * with the line. Histograms must have their `_bucket` (ending in `le="+Inf"`), `_sum` and `_count`.
 */
export const parsePrometheus = (text: string): Array<Sample> => {
  if (!text.endsWith("\n")) throw new Error("exposition must end with a newline")
  const types = new Map<string, string>()
  const samples: Array<Sample> = []
  for (const line of text.split("\n")) {
    if (line === "") continue
    if (line.startsWith("#")) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) continue
      if (!NAME.test(m[2]!)) throw new Error(`bad metric name: ${line}`)
      if (m[1] === "TYPE") {
        if (!["counter", "gauge", "histogram", "summary", "untyped"].includes(m[3]!))
          throw new Error(`bad type: ${line}`)
        if (types.has(m[2]!)) throw new Error(`TYPE given twice: ${line}`)
        types.set(m[2]!, m[3]!)
      }
      continue
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)( \d+)?$/.exec(line)
    if (m === null) throw new Error(`bad sample line: ${line}`)
    const [, name, rawLabels, rawValue] = m
    const family = [name!, name!.replace(/_(bucket|sum|count)$/, "")].find((n) => types.has(n))
    if (family === undefined) throw new Error(`sample before its TYPE: ${line}`)
    if (family !== name && types.get(family) !== "histogram" && types.get(family) !== "summary")
      throw new Error(`suffix on a ${types.get(family)}: ${line}`)
    const labels: Record<string, string> = {}
    if (rawLabels !== undefined) {
      const inner = rawLabels.slice(1, -1)
      LABEL.lastIndex = 0
      while (LABEL.lastIndex < inner.length) {
        const at = LABEL.lastIndex
        const l = LABEL.exec(inner)
        if (l === null || l.index !== at) throw new Error(`bad labels: ${line}`)
        labels[l[1]!] = l[2]!.replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\")
      }
    }
    const value = rawValue === "+Inf" ? Infinity : rawValue === "-Inf" ? -Infinity : Number(rawValue)
    if (Number.isNaN(value) && rawValue !== "NaN") throw new Error(`bad value: ${line}`)
    samples.push({ name: name!, labels, value })
  }
  for (const [family, type] of types) {
    if (type !== "histogram") continue
    const infs = samples.filter((s) => s.name === `${family}_bucket` && s.labels["le"] === "+Inf")
    const counts = samples.filter((s) => s.name === `${family}_count`)
    if (infs.length !== counts.length || samples.filter((s) => s.name === `${family}_sum`).length !== counts.length)
      throw new Error(`histogram ${family} lacks +Inf buckets, sums or counts`)
  }
  return samples
}

/** The sum of a metric's samples whose labels include `labels`. */
export const total = (samples: ReadonlyArray<Sample>, name: string, labels: Record<string, string> = {}): number =>
  samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0)

export const scrape = async (httpPort: number): Promise<Array<Sample>> => {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`)
  if (!String(res.headers.get("content-type")).startsWith("text/plain; version=0.0.4"))
    throw new Error(`unexpected content type ${res.headers.get("content-type")}`)
  return parsePrometheus(await res.text())
}
