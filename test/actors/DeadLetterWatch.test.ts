import { Option } from "effect"
import { describe, expect, it } from "vitest"
import { type BrokerPolicy, managementEndpoint, unboundedDeadLetterQueues } from "../../src/actors/DeadLetterWatch.js"

const policy = (over: Partial<BrokerPolicy>): BrokerPolicy => ({
  name: "p",
  pattern: "\\.dlq$",
  "apply-to": "queues",
  priority: 0,
  definition: { "max-length": 10 },
  ...over,
})

describe("dead-letter bounds", () => {
  const queues = ["market.ticks.dlq", "signals.dlq"]

  it("a queue no policy matches is unbounded; one whose policy caps length or bytes is bounded", () => {
    expect(unboundedDeadLetterQueues(queues, [], [])).toEqual(queues)
    expect(unboundedDeadLetterQueues(queues, [policy({})], [])).toEqual([])
    expect(unboundedDeadLetterQueues(queues, [policy({ definition: { "max-length-bytes": 1 } })], [])).toEqual([])
    expect(unboundedDeadLetterQueues(queues, [policy({ pattern: "^market\\." })], [])).toEqual(["signals.dlq"])
  })

  it("a TTL alone is no bound, a policy for exchanges applies to no queue, and an operator policy bounds too", () => {
    expect(unboundedDeadLetterQueues(queues, [policy({ definition: { "message-ttl": 1000 } })], [])).toEqual(queues)
    expect(unboundedDeadLetterQueues(queues, [policy({ "apply-to": "exchanges" })], [])).toEqual(queues)
    expect(unboundedDeadLetterQueues(queues, [], [policy({})])).toEqual([])
  })

  it("only the matching policy of highest priority applies, as the broker applies it", () => {
    const ha = policy({ name: "ha", pattern: ".*", priority: 5, definition: { "ha-mode": "all" } })
    expect(unboundedDeadLetterQueues(queues, [policy({}), ha], [])).toEqual(queues)
    expect(unboundedDeadLetterQueues(queues, [policy({ priority: 9 }), ha], [])).toEqual([])
  })
})

describe("the management endpoint", () => {
  it("defaults to the AMQP host on 15672 with its credentials and vhost", () => {
    const e = managementEndpoint("amqp://u:p%40ss@broker:5672/prod%2Fa", Option.none())
    expect(e?.base.href).toBe("http://u:p%40ss@broker:15672/")
    expect(e?.vhost).toBe("prod/a")
    expect(managementEndpoint("amqp://broker", Option.none())?.vhost).toBe("/")
  })

  it("takes RABBITMQ_MANAGEMENT_URL as given; a RABBITMQ_URL that is no URL gives none, without throwing", () => {
    expect(managementEndpoint("amqp://broker", Option.some("https://a:b@mgmt:443"))?.base.host).toBe("mgmt")
    expect(managementEndpoint("not a url", Option.none())).toBeUndefined()
  })
})
