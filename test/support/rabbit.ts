import { execFileSync } from "node:child_process"
import amqp from "amqplib"

/** A RabbitMQ node of scripts/services.sh: its AMQP URL (as guest), `host:port`, and `rabbitmqctl` aimed at it. */
export interface TestBroker {
  readonly url: string
  readonly hostPort: string
  readonly ctl: (...args: Array<string>) => string
}

const brokerAt = (port: number, node: string): TestBroker => ({
  url: `amqp://guest:guest@127.0.0.1:${port}`,
  hostPort: `127.0.0.1:${port}`,
  ctl: (...args) => execFileSync("rabbitmqctl", ["-q", "-n", node, ...args], { encoding: "utf8", timeout: 120_000 }),
})

/** The machine's broker, shared by the test files that run side by side, each in vhosts of its own. */
export const MAIN_BROKER = brokerAt(5672, "rabbit@localhost")

/**
 * A second node that only the broker-fault files use (vitest project `broker-faults`, one file at a time): they
 * stop it, restart it and cut its connections while the other files run on the main node undisturbed.
 */
export const FAULT_BROKER = brokerAt(5673, "faults@localhost")

export const RABBIT_URL = MAIN_BROKER.url
export const rabbitctl = MAIN_BROKER.ctl
const MANAGEMENT = "http://127.0.0.1:15672"

/** A vhost of the test's own, guest allowed in; `drop` deletes it with everything in it. */
export const freshVhost = (name: string, broker: TestBroker = MAIN_BROKER) => {
  const vhost = `ingest-test-${name}-${Date.now()}`
  broker.ctl("add_vhost", vhost)
  broker.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
  return { vhost, url: `${broker.url}/${vhost}`, drop: () => void broker.ctl("delete_vhost", vhost) }
}

/**
 * The seed's `setupTopology`, as written there: a plain amqplib script, no constant shared with the daemon, so a
 * drift in the daemon's declarations shows as a conflict. `ttl` shortens the two TTLs the way the daemon's
 * RABBITMQ_TICKS_TTL_MS / RABBITMQ_OHLCV_TTL_MS do.
 */
export const seedSetupTopology = async (url: string, ttl = { ticks: 60000, ohlcv: 300000 }): Promise<void> => {
  const conn = await amqp.connect(url)
  const ch = await conn.createChannel()
  await ch.assertExchange("neuraltrade.market", "topic", { durable: true })
  await ch.assertExchange("neuraltrade.signals", "direct", { durable: true })
  await ch.assertExchange("neuraltrade.notifications", "fanout", { durable: true })
  await ch.assertExchange("neuraltrade.dlx", "direct", { durable: true })
  const dlx = { "x-dead-letter-exchange": "neuraltrade.dlx" }
  await ch.assertQueue("market.ticks", {
    durable: true,
    arguments: {
      ...dlx,
      "x-dead-letter-routing-key": "market.ticks.dlq",
      "x-message-ttl": ttl.ticks,
      "x-max-length": 100000,
      "x-overflow": "reject-publish",
    },
  })
  await ch.bindQueue("market.ticks", "neuraltrade.market", "tick.#")
  await ch.assertQueue("market.ohlcv", {
    durable: true,
    arguments: { ...dlx, "x-dead-letter-routing-key": "market.ohlcv.dlq", "x-message-ttl": ttl.ohlcv },
  })
  await ch.bindQueue("market.ohlcv", "neuraltrade.market", "ohlcv.#")
  await ch.assertQueue("signals.high_confidence", {
    durable: true,
    arguments: { ...dlx, "x-dead-letter-routing-key": "signals.dlq", "x-max-priority": 10 },
  })
  await ch.bindQueue("signals.high_confidence", "neuraltrade.signals", "signal.high")
  for (const dlq of ["market.ticks.dlq", "market.ohlcv.dlq", "signals.dlq"]) {
    await ch.assertQueue(dlq, { durable: true })
    await ch.bindQueue(dlq, "neuraltrade.dlx", dlq)
  }
  await conn.close()
}

/** Messages in each queue of `url`'s vhost that exists (a passive declare each, on a channel of its own). */
export const queueDepths = async (url: string, queues: ReadonlyArray<string>): Promise<Map<string, number>> => {
  const conn = await amqp.connect(url)
  const out = new Map<string, number>()
  try {
    for (const q of queues) {
      const ch = await conn.createChannel()
      ch.on("error", () => undefined)
      await ch.checkQueue(q).then(
        (r) => out.set(q, r.messageCount),
        () => undefined,
      )
      await ch.close().catch(() => undefined)
    }
  } finally {
    await conn.close()
  }
  return out
}

/** The alarms (memory, disk) the broker has raised, from its health check; empty when none. */
export const brokerAlarms = async (): Promise<Array<string>> => {
  const res = await fetch(`${MANAGEMENT}/api/health/checks/alarms`, {
    headers: { authorization: `Basic ${Buffer.from("guest:guest").toString("base64")}` },
  })
  const body = (await res.json()) as { status: string; reason?: string; alarms?: Array<unknown> }
  if (res.status === 200 && body.status === "ok") return []
  if (res.status === 503) return (body.alarms ?? [body.reason]).map((a) => JSON.stringify(a))
  throw new Error(`management API /api/health/checks/alarms: HTTP ${res.status}`)
}
