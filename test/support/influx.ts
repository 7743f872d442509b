import { type ChildProcess, spawn } from "node:child_process"
import { mkdirSync } from "node:fs"
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http"
import { join } from "node:path"

/**
 * The InfluxDB target on machines without Docker: Debian's influxd 1.6.7 (which has no `/api/v2/write`) behind a
 * v2-write compatibility proxy, so the product's v2 client meets a real engine's semantics (field types,
 * last-write-wins, parse errors). `scripts/services.sh` keeps a shared pair running at these addresses.
 */
export const INFLUX = {
  engine: "http://127.0.0.1:8186",
  proxy: "http://127.0.0.1:8086",
  token: "neuraltrade-dev-token",
  org: "neuraltrade",
  bucket: "market",
} as const

export interface ProxyOptions {
  readonly port: number
  readonly upstream: string
  readonly token: string
}

const v2Error = (res: ServerResponse, status: number, code: string, message: string) => {
  const body = JSON.stringify({ code, message })
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  })
  res.end(body)
}

const V1_PRECISION: Record<string, string> = { ns: "n", us: "u", ms: "ms", s: "s" }

/** Sends the request body upstream unchanged (gzip included; influxd 1.x reads `Content-Encoding: gzip`). */
const forward = (
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  map: (status: number, body: string) => void,
) => {
  const up = request(
    target,
    {
      method: req.method ?? "GET",
      headers: {
        "content-type": req.headers["content-type"] ?? "text/plain",
        ...(req.headers["content-encoding"] ? { "content-encoding": req.headers["content-encoding"] } : {}),
      },
    },
    (upRes) => {
      const chunks: Array<Buffer> = []
      upRes.on("data", (c: Buffer) => chunks.push(c))
      upRes.on("end", () => map(upRes.statusCode ?? 502, Buffer.concat(chunks).toString()))
    },
  )
  // An engine that is down looks to the client like an unreachable InfluxDB: the connection is dropped.
  up.on("error", () => res.socket?.destroy())
  req.pipe(up)
}

const handleWrite = async (opts: ProxyOptions, req: IncomingMessage, res: ServerResponse, url: URL) => {
  if (req.headers.authorization !== `Token ${opts.token}`)
    return v2Error(res, 401, "unauthorized", "unauthorized access")
  const bucket = url.searchParams.get("bucket")
  const org = url.searchParams.get("org")
  if (!bucket || !org) return v2Error(res, 400, "invalid", "org and bucket are required")
  const precision = V1_PRECISION[url.searchParams.get("precision") ?? "ns"]
  if (precision === undefined) return v2Error(res, 400, "invalid", "invalid precision")
  const target = new URL(`/write?db=${encodeURIComponent(bucket)}&precision=${precision}`, opts.upstream)
  forward(req, res, target, (status, body) => {
    if (status === 204) {
      res.writeHead(204)
      return res.end()
    }
    let message = body
    try {
      message = (JSON.parse(body) as { error?: string }).error ?? body
    } catch {
      // not JSON: pass the text through
    }
    // InfluxDB 2 answers a field type conflict with 422; 1.x calls it a 400 "partial write".
    if (status === 400 && message.includes("field type conflict"))
      return v2Error(res, 422, "unprocessable entity", message)
    if (status === 404) return v2Error(res, 404, "not found", `bucket "${bucket}" not found`)
    v2Error(res, status, status === 400 ? "invalid" : "internal error", message)
  })
}

/** `POST /api/v2/write` → `POST /write`; `/health` as in InfluxDB 2; anything else (e.g. `/query`) passed through. */
export const startInfluxProxy = (opts: ProxyOptions): Promise<Server> => {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://proxy")
    if (url.pathname === "/api/v2/write" && req.method === "POST") {
      void handleWrite(opts, req, res, url)
      return
    }
    if (url.pathname === "/health") {
      fetch(`${opts.upstream}/ping`)
        .then(() => v2Error(res, 200, "pass", "ready for queries and writes"))
        .catch(() => v2Error(res, 503, "fail", "engine unreachable"))
      return
    }
    forward(req, res, new URL(url.pathname + url.search, opts.upstream), (status, body) => {
      res.writeHead(status, { "content-type": "application/json" })
      res.end(body)
    })
  })
  return new Promise((resolve, reject) => {
    server.once("error", reject)
    server.listen(opts.port, "127.0.0.1", () => resolve(server))
  })
}

export interface EngineOptions {
  readonly dir: string
  readonly httpPort: number
  readonly rpcPort: number
  /** Survives the process that started it (the shared engine of `scripts/services.sh`). */
  readonly detached?: boolean
}

/** `influxd run` with its meta, data and WAL under `dir`, HTTP on loopback, reporting and request logs off. */
export const spawnInfluxd = (opts: EngineOptions): ChildProcess => {
  for (const d of ["meta", "data", "wal"]) mkdirSync(join(opts.dir, d), { recursive: true })
  return spawn("influxd", ["run", "-config", "/dev/null"], {
    detached: opts.detached ?? false,
    stdio: opts.detached ? "ignore" : ["ignore", "ignore", "pipe"],
    env: {
      PATH: process.env.PATH ?? "",
      INFLUXDB_META_DIR: join(opts.dir, "meta"),
      INFLUXDB_DATA_DIR: join(opts.dir, "data"),
      INFLUXDB_DATA_WAL_DIR: join(opts.dir, "wal"),
      INFLUXDB_HTTP_BIND_ADDRESS: `127.0.0.1:${opts.httpPort}`,
      INFLUXDB_BIND_ADDRESS: `127.0.0.1:${opts.rpcPort}`,
      INFLUXDB_REPORTING_DISABLED: "true",
      INFLUXDB_HTTP_LOG_ENABLED: "false",
      INFLUXDB_DATA_QUERY_LOG_ENABLED: "false",
      INFLUXDB_MONITOR_STORE_ENABLED: "false",
      INFLUXDB_HTTP_MAX_BODY_SIZE: "0",
    },
  })
}

export const engineUp = async (url: string): Promise<boolean> =>
  fetch(`${url}/ping`).then(
    (r) => r.status === 204,
    () => false,
  )

/** One InfluxQL statement against the engine; the rows of every series as objects, with GROUP BY tags merged in. */
export const influxQuery = async (
  engine: string,
  db: string,
  q: string,
): Promise<Array<Record<string, string | number | boolean | null>>> => {
  const res = await fetch(`${engine}/query?db=${encodeURIComponent(db)}&q=${encodeURIComponent(q)}`, {
    method: "POST",
  })
  const json = (await res.json()) as {
    results: Array<{
      error?: string
      series?: Array<{ tags?: Record<string, string>; columns: Array<string>; values: Array<Array<never>> }>
    }>
  }
  const result = json.results[0]
  if (result?.error !== undefined) throw new Error(`InfluxQL ${q}: ${result.error}`)
  return (result?.series ?? []).flatMap((s) =>
    s.values.map((row) => ({ ...s.tags, ...Object.fromEntries(s.columns.map((c, i) => [c, row[i] ?? null])) })),
  )
}

/**
 * A point's time as epoch nanoseconds in decimal. Times come back as RFC 3339 text because nanosecond epochs do
 * not fit a JavaScript number.
 */
export const nanosOf = (time: unknown): string => {
  const m = /^(.*?)(?:\.(\d+))?Z$/.exec(String(time))
  if (m === null) throw new Error(`not an RFC 3339 time: ${String(time)}`)
  const seconds = BigInt(Date.parse(`${m[1]}Z`) / 1000)
  return String(seconds * 1_000_000_000n + BigInt((m[2] ?? "").padEnd(9, "0")))
}

/** Field types of a measurement as the engine recorded them (float, integer, string, boolean). */
export const fieldTypes = async (engine: string, db: string, measurement: string) =>
  Object.fromEntries(
    (await influxQuery(engine, db, `SHOW FIELD KEYS FROM "${measurement}"`)).map((r) => [r.fieldKey, r.fieldType]),
  )

/** A fresh database (= v2 bucket) on the engine for one test, dropped by `drop`. */
export const scratchBucket = async (engine: string = INFLUX.engine) => {
  const name = `t_${process.pid}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`
  await influxQuery(engine, "", `CREATE DATABASE "${name}"`)
  return { name, drop: () => influxQuery(engine, "", `DROP DATABASE "${name}"`).then(() => undefined) }
}

const argValue = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(name)
  return i < 0 ? fallback : (process.argv[i + 1] ?? fallback)
}

/** Starts the shared engine and proxy unless they answer, and creates the default bucket; for services.sh. */
const up = async () => {
  const dir = argValue("--dir", "/var/tmp/neuraltrade-influxd")
  const engine = new URL(INFLUX.engine)
  const proxy = new URL(INFLUX.proxy)
  if (!(await engineUp(INFLUX.engine))) {
    console.log(`starting influxd (data in ${dir}) on ${engine.host}`)
    spawnInfluxd({ dir, httpPort: Number(engine.port), rpcPort: Number(engine.port) + 2, detached: true }).unref()
  }
  const deadline = Date.now() + 30_000
  while (!(await engineUp(INFLUX.engine))) {
    if (Date.now() > deadline) throw new Error(`influxd did not answer on ${INFLUX.engine}/ping within 30 s`)
    await new Promise((r) => setTimeout(r, 200))
  }
  await influxQuery(INFLUX.engine, "", `CREATE DATABASE "${INFLUX.bucket}"`)
  if (
    !(await fetch(`${INFLUX.proxy}/health`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    console.log(`starting the v2-write proxy on ${proxy.host}`)
    spawn(process.execPath, [...process.execArgv, process.argv[1]!, "proxy"], {
      detached: true,
      stdio: "ignore",
    }).unref()
    while (
      !(await fetch(`${INFLUX.proxy}/health`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline) throw new Error(`the v2-write proxy did not answer on ${INFLUX.proxy}/health`)
      await new Promise((r) => setTimeout(r, 200))
    }
  }
}

// `tsx test/support/influx.ts up|proxy`: the shared target as processes, for scripts/services.sh.
if (process.argv[1]?.endsWith("influx.ts")) {
  if (process.argv[2] === "proxy")
    void startInfluxProxy({
      port: Number(new URL(INFLUX.proxy).port),
      upstream: INFLUX.engine,
      token: INFLUX.token,
    })
  else if (process.argv[2] === "up")
    up().then(
      () => console.log(`InfluxDB (v2 write API) is up on ${INFLUX.proxy}, bucket ${INFLUX.bucket}`),
      (e: unknown) => {
        console.error(`ERROR: ${e instanceof Error ? e.message : String(e)}`)
        process.exit(1)
      },
    )
}
