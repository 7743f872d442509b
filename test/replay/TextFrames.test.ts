import fc from "fast-check"
import { describe, expect, it } from "vitest"
import * as ws from "ws"
import { textFrames } from "../../src/replay/TextFrames.js"

/** `ws`'s frame parser, which it exports but its types do not declare. */
interface FrameReader {
  on(event: "message", listener: (data: Buffer, isBinary: boolean) => void): void
  on(event: "error", listener: (error: Error) => void): void
  write(chunk: Buffer): boolean
}
const { Receiver } = ws as unknown as { Receiver: new (options: { isServer: boolean }) => FrameReader }

/** What a WebSocket client reads from the bytes: its text messages, in order, or the protocol error it closes on. */
const read = async (bytes: Buffer, chunk: number): Promise<Array<string>> => {
  const receiver = new Receiver({ isServer: false })
  const messages: Array<string> = []
  receiver.on("message", (data, isBinary) => messages.push(isBinary ? "<binary>" : data.toString()))
  const failed = new Promise<never>((_, reject) => receiver.on("error", reject))
  for (let at = 0; at < bytes.length; at += chunk) receiver.write(bytes.subarray(at, at + chunk))
  await Promise.race([new Promise((r) => setImmediate(r)), failed])
  return messages
}

const text = fc.oneof(
  fc.fullUnicodeString({ maxLength: 200 }),
  // Around the lengths where the header grows: 125/126 bytes, 65,535/65,536 bytes.
  fc.integer({ min: 120, max: 130 }).map((n) => "x".repeat(n)),
  fc.integer({ min: 65_530, max: 65_540 }).map((n) => "é".repeat(Math.floor(n / 2)) + "x".repeat(n % 2)),
)

describe("textFrames", () => {
  it("are read by a WebSocket client as exactly the texts given, in order, however the bytes arrive", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(text, { maxLength: 20 }), fc.integer({ min: 1, max: 70_000 }), async (texts, chunk) => {
        expect(await read(textFrames(texts), chunk)).toEqual(texts)
      }),
      { numRuns: 200 },
    )
  })
})
