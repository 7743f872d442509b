import {
  type CandlestickData,
  CandlestickSeries,
  createChart,
  type HistogramData,
  HistogramSeries,
  type UTCTimestamp,
} from "lightweight-charts"

/** A candle as `/api/candles` and `/api/live` carry it (decimals as strings, times in ms). */
interface Candle {
  readonly exchange: string
  readonly symbol: string
  readonly timeframe: string
  readonly openTime: number
  readonly open: string
  readonly high: string
  readonly low: string
  readonly close: string
  readonly volume: string
  readonly trades: number
  readonly isFinal: boolean
  readonly revision: number
  readonly complete: boolean
}

interface SymbolStatus {
  readonly symbol: string
  readonly state: string
  readonly lastTradeAt: string | null
  readonly ratePerSec: number
  readonly gaps: number
  readonly backfill: { readonly unfilledGaps: number; readonly state: string }
  readonly reconciliation: { readonly checked: number; readonly mismatched: number } | null
}

interface Status {
  readonly feeds: ReadonlyArray<{ readonly exchange: string; readonly symbols: ReadonlyArray<SymbolStatus> }>
  readonly components: Record<string, { readonly state: string; readonly detail?: string }>
  readonly sinks: ReadonlyArray<{
    readonly name: string
    readonly memoryRecords: number
    readonly memoryCapacity: number | null
    readonly diskRecords: number
    readonly diskBytes: number
    readonly backPressure: boolean
  }>
  readonly alerts: ReadonlyArray<{
    readonly rule: string
    readonly severity: string
    readonly message: string
  }>
}

type LiveMessage =
  | {
      readonly type: "hello"
      readonly feeds: ReadonlyArray<{ exchange: string; symbols: ReadonlyArray<string> }>
      readonly timeframes: ReadonlyArray<string>
    }
  | { readonly type: "status"; readonly status: Status }
  | { readonly type: "open"; readonly candles: ReadonlyArray<Candle> }
  | { readonly type: "candle"; readonly candle: Candle }
  | { readonly type: "error"; readonly message: string }

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const exchangeSelect = $<HTMLSelectElement>("exchange")
const symbolSelect = $<HTMLSelectElement>("symbol")
const timeframeSelect = $<HTMLSelectElement>("timeframe")
const connection = $<HTMLSpanElement>("connection")
const chartElement = $<HTMLDivElement>("chart")
const openLine = $<HTMLParagraphElement>("open")

const chart = createChart(chartElement, {
  autoSize: true,
  layout: { background: { color: "#0f1419" }, textColor: "#d8dee4" },
  grid: { vertLines: { color: "#1c252e" }, horzLines: { color: "#1c252e" } },
  timeScale: { timeVisible: true, secondsVisible: false },
})
const candleSeries = chart.addSeries(CandlestickSeries, {
  upColor: "#26a69a",
  downColor: "#ef5350",
  wickUpColor: "#26a69a",
  wickDownColor: "#ef5350",
  borderVisible: false,
})
const volumeSeries = chart.addSeries(HistogramSeries, { priceScaleId: "volume", priceFormat: { type: "volume" } })
chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } })

/** The bars on the chart by open time (seconds), so that a revision or a late final replaces its bar. */
let bars = new Map<number, Candle>()
let feeds: ReadonlyArray<{ exchange: string; symbols: ReadonlyArray<string> }> = []
let socket: WebSocket | undefined
let loaded = 0

const selection = () => ({
  exchange: exchangeSelect.value,
  symbol: symbolSelect.value,
  timeframe: timeframeSelect.value,
})

const toBar = (c: Candle): CandlestickData<UTCTimestamp> => ({
  time: (c.openTime / 1_000) as UTCTimestamp,
  open: Number(c.open),
  high: Number(c.high),
  low: Number(c.low),
  close: Number(c.close),
})

const toVolume = (c: Candle): HistogramData<UTCTimestamp> => ({
  time: (c.openTime / 1_000) as UTCTimestamp,
  value: Number(c.volume),
  color: Number(c.close) >= Number(c.open) ? "#26a69a55" : "#ef535055",
})

const describeChart = () => {
  const times = [...bars.keys()].sort((a, b) => a - b)
  chartElement.dataset.bars = String(times.length)
  chartElement.dataset.first = times.length === 0 ? "" : String(times[0]! * 1_000)
  chartElement.dataset.finals = String([...bars.values()].filter((c) => c.isFinal).length)
}

const redraw = () => {
  const sorted = [...bars.values()].sort((a, b) => a.openTime - b.openTime)
  candleSeries.setData(sorted.map(toBar))
  volumeSeries.setData(sorted.map(toVolume))
  describeChart()
}

/** Puts a candle on the chart: the newest bar is updated in place; an older one (a revision) redraws the series. */
const apply = (c: Candle) => {
  const s = selection()
  if (c.exchange !== s.exchange || c.symbol !== s.symbol || c.timeframe !== s.timeframe) return
  const time = c.openTime / 1_000
  const existing = bars.get(time)
  // A snapshot of the open candle never replaces what is already final, nor an older revision a newer one.
  if (existing !== undefined && existing.isFinal && (!c.isFinal || c.revision < existing.revision)) return
  const newest = Math.max(0, ...bars.keys())
  bars.set(time, c)
  if (time >= newest) {
    candleSeries.update(toBar(c))
    volumeSeries.update(toVolume(c))
    describeChart()
  } else redraw()
  if (!c.isFinal) {
    openLine.dataset.close = c.close
    openLine.dataset.openTime = String(c.openTime)
    openLine.textContent = `open ${new Date(c.openTime).toISOString().slice(11, 16)} UTC · O ${c.open} H ${c.high} L ${c.low} C ${c.close} · volume ${c.volume} · ${c.trades} trades${c.complete ? "" : " · gap being filled"}`
  }
}

const options = (select: HTMLSelectElement, values: ReadonlyArray<string>, preferred: string | null) => {
  select.replaceChildren(
    ...values.map((v) => {
      const o = document.createElement("option")
      o.value = v
      o.textContent = v
      return o
    }),
  )
  if (preferred !== null && values.includes(preferred)) select.value = preferred
}

const symbolsOf = (exchange: string) => feeds.find((f) => f.exchange === exchange)?.symbols ?? []

/** Loads the stored candles of the selection, then asks the daemon for its live updates. */
const load = async () => {
  const s = selection()
  location.hash = new URLSearchParams(s).toString()
  const request = ++loaded
  const query = new URLSearchParams({ ...s, limit: "500" })
  const res = await fetch(`/api/candles?${query.toString()}`).catch(() => undefined)
  if (request !== loaded) return
  const stored = res?.ok === true ? ((await res.json()) as { candles: Array<Candle> }).candles : []
  const previous = [...bars.values()].filter((c) => c.exchange === s.exchange && c.symbol === s.symbol)
  bars = new Map(stored.map((c) => [c.openTime / 1_000, c]))
  // Live candles that arrived while the stored ones loaded are newer than what the store had.
  for (const c of previous)
    if (c.timeframe === s.timeframe && !bars.has(c.openTime / 1_000)) bars.set(c.openTime / 1_000, c)
  redraw()
  // A few bars fill the width; many keep their spacing and show the newest.
  if (bars.size < 120) chart.timeScale().fitContent()
  else chart.timeScale().scrollToRealTime()
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ watch: s }))
}

const age = (iso: string | null) => {
  if (iso === null) return "never"
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1_000))
  return seconds < 60 ? `${seconds}s ago` : `${Math.floor(seconds / 60)}m ${seconds % 60}s ago`
}

const cell = (text: string, className?: string) => {
  const td = document.createElement("td")
  td.textContent = text
  if (className !== undefined) td.className = className
  return td
}

const renderStatus = (status: Status) => {
  const rows = status.feeds.flatMap((f) =>
    f.symbols.map((s) => {
      const tr = document.createElement("tr")
      tr.dataset.key = `${f.exchange} ${s.symbol}`
      tr.dataset.state = s.state
      const r = s.reconciliation
      tr.append(
        cell(f.exchange),
        cell(s.symbol),
        cell(s.state, `state state-${s.state}`),
        cell(age(s.lastTradeAt)),
        cell(s.ratePerSec.toFixed(1)),
        cell(`${s.gaps} (${s.backfill.unfilledGaps})`),
        cell(s.backfill.state),
        cell(r === null ? "n/a" : `${r.checked} checked, ${r.mismatched} differ`),
      )
      return tr
    }),
  )
  $<HTMLTableElement>("symbols").tBodies[0]!.replaceChildren(...rows)

  const alerts = status.alerts.map((a) => {
    const li = document.createElement("li")
    li.className = a.severity
    li.textContent = `${a.rule}: ${a.message}`
    return li
  })
  if (alerts.length === 0) {
    const li = document.createElement("li")
    li.className = "none"
    li.textContent = "none"
    alerts.push(li)
  }
  $<HTMLUListElement>("alerts").replaceChildren(...alerts)

  const sinks = status.sinks.map((s) => {
    const tr = document.createElement("tr")
    const state = status.components[`sink:${s.name}`]?.state ?? "up"
    tr.append(
      cell(s.name),
      cell(state, `state state-${state}`),
      cell(s.memoryCapacity ? `${s.memoryRecords} / ${s.memoryCapacity}` : String(s.memoryRecords)),
      cell(s.diskRecords === 0 ? "empty" : `${s.diskRecords} (${Math.round(s.diskBytes / 1024)} KiB)`),
      cell(s.backPressure ? "yes" : "no", s.backPressure ? "state state-silent" : undefined),
    )
    return tr
  })
  $<HTMLTableElement>("sinks").tBodies[0]!.replaceChildren(...sinks)
}

const onMessage = (message: LiveMessage) => {
  switch (message.type) {
    case "hello": {
      feeds = message.feeds
      const wanted = new URLSearchParams(location.hash.slice(1))
      const current = selection()
      options(
        exchangeSelect,
        feeds.map((f) => f.exchange),
        current.exchange || wanted.get("exchange"),
      )
      options(symbolSelect, symbolsOf(exchangeSelect.value), current.symbol || wanted.get("symbol"))
      options(timeframeSelect, message.timeframes, current.timeframe || wanted.get("timeframe"))
      void load()
      return
    }
    case "status":
      return renderStatus(message.status)
    case "open":
      return message.candles.forEach(apply)
    case "candle":
      return apply(message.candle)
    case "error":
      openLine.textContent = message.message
  }
}

/** One WebSocket, reconnected with a growing pause after any close: a restarted daemon or a dropped slow page. */
const connect = (attempt = 0) => {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/api/live`)
  socket = ws
  ws.onopen = () => {
    attempt = 0
    connection.dataset.state = "live"
    connection.textContent = "live"
  }
  ws.onmessage = (event) => onMessage(JSON.parse(String(event.data)) as LiveMessage)
  ws.onclose = (event) => {
    const delay = Math.min(10_000, 500 * 2 ** attempt)
    connection.dataset.state = "reconnecting"
    connection.textContent = `disconnected${event.reason ? ` (${event.reason})` : ""}; reconnecting in ${delay / 1_000}s`
    setTimeout(() => connect(attempt + 1), delay)
  }
}

exchangeSelect.onchange = () => {
  options(symbolSelect, symbolsOf(exchangeSelect.value), null)
  void load()
}
symbolSelect.onchange = () => void load()
timeframeSelect.onchange = () => void load()
connect()
