import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import WebSocket from "ws"
import { OkxProtocol } from "../../src/exchanges/okx/Replay.js"
import { ReplayServer } from "../../src/replay/ReplayServer.js"
import { recordedTape } from "../../src/replay/Tape.js"
import { startReplay, until } from "../support/daemon.js"
import { fixturesDir } from "../support/fixtures.js"

const cleanup: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const f of cleanup.splice(0)) await f()
})

/** A raw OKX client: subscribes to the trades of `instIds` and records what arrives, with arrival times. */
const okxClient = async (url: string, instIds: ReadonlyArray<string>) => {
  const ws = new WebSocket(url)
  const frames: Array<{ at: number; text: string }> = []
  ws.on("message", (d) => frames.push({ at: Date.now(), text: d.toString() }))
  await new Promise((r) => ws.once("open", r))
  ws.send(JSON.stringify({ op: "subscribe", args: instIds.map((instId) => ({ channel: "trades", instId })) }))
  cleanup.push(() => ws.terminate())
  return { ws, frames, data: () => frames.filter((f) => f.text.includes('"data"')) }
}

const tempRecording = (lines: ReadonlyArray<string>, recvSeconds: ReadonlyArray<number>) => {
  const dir = mkdtempSync(join(tmpdir(), "replay-"))
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, "trades.jsonl")
  writeFileSync(file, lines.map((l) => `${l}\n`).join(""))
  writeFileSync(
    file.replace(/\.jsonl$/, ".meta.tsv"),
    `line\trecv_ts_epoch_s\tsource_id\n${recvSeconds.map((s, i) => `${i + 1}\t${s}\tt`).join("\n")}\n`,
  )
  return file
}

const okxTrade = (id: number, ts: number) =>
  `{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT","tradeId":"${id}","px":"30000.1","sz":"0.01","side":"buy","ts":"${ts}"}]}`

describe("the replay exchange", () => {
  it("replays a recording at its recorded pace times the speed, and shifts timestamps to now", async () => {
    const server = await ReplayServer.start()
    cleanup.push(() => server.close())
    // Five frames 1 s apart: 4 s recorded, 1 s at 4×.
    const file = tempRecording(
      [1, 2, 3, 4, 5].map((i) => okxTrade(i, 1_600_000_000_000 + i * 1_000)),
      [1, 2, 3, 4, 5].map((i) => 1_600_000_000 + i),
    )
    server.play("okx", recordedTape(OkxProtocol, [file]), { pace: { mode: "paced", speed: 4 }, shiftToNow: true })
    const client = await okxClient(server.url("okx"), ["BTC-USDT"])
    await until("all five frames", () => client.data().length === 5, 10_000)
    // Frames are due from one origin, so one late frame does not delay the rest: the whole span shows the pace,
    // 1 s at 4× (0.5 s at 8×, 4 s at 1×). The bounds allow a busy machine 300 ms late on the first frame and 2 s on
    // the last.
    const at = client.data().map((f) => f.at)
    expect(at.every((t, i) => i === 0 || t >= at[i - 1]!)).toBe(true)
    expect(at[4]! - at[0]!).toBeGreaterThanOrEqual(700)
    expect(at[4]! - at[0]!).toBeLessThanOrEqual(3_000)
    const ts = client.data().map((f) => Number(/"ts":"(\d+)"/.exec(f.text)![1]))
    expect(Math.abs(ts[0]! - client.data()[0]!.at)).toBeLessThan(1_000)
    expect(ts.map((t) => t - ts[0]!)).toEqual([0, 1_000, 2_000, 3_000, 4_000])
  })

  it("routes recorded frames by subscription, holds the tape until a client subscribes, and obeys pause, resume and speed over HTTP", async () => {
    const server = await ReplayServer.start()
    cleanup.push(() => server.close())
    const tape = recordedTape(OkxProtocol, [`${fixturesDir}okx/trades.jsonl`, `${fixturesDir}okx/control.jsonl`])
    // Acks in the recording are not replayed: the server answers subscriptions itself.
    expect(tape).toHaveLength(129)
    // The recording spans ten months: only the speed raised below lets it finish within the test.
    server.play("okx", tape, { pace: { mode: "paced", speed: 10_000 } })
    await new Promise((r) => setTimeout(r, 300))
    expect(server.venue("okx").sent).toBe(0)
    const control = (action: string) =>
      fetch(`http://127.0.0.1:${server.port}/control/${action}`, { method: "POST" }).then((r) => r.json())
    const client = await okxClient(server.url("okx"), ["XMR-USDT-SWAP", "ZEN-USDT"])
    expect(await control("pause?exchange=okx")).toEqual({ ok: true, action: "pause" })
    await new Promise((r) => setTimeout(r, 1_000))
    expect(server.venue("okx").sent).toBe(0)
    await control("resume?exchange=okx")
    await control("speed?exchange=okx&value=10000")
    await until("the whole tape", () => server.venue("okx").done, 20_000)
    const wanted = tape.filter((t) => t.topic === "trades:XMR-USDT-SWAP" || t.topic === "trades:ZEN-USDT")
    expect(wanted).toHaveLength(17)
    // `done` means sent: on a busy machine the last frames may still be on their way to the client.
    await until("the client to receive them", () => client.data().length >= wanted.length, 5_000).catch(() => {})
    expect(client.data().map((f) => f.text)).toEqual(wanted.map((t) => t.frame))
    expect(client.frames.filter((f) => f.text.includes('"event":"subscribe"'))).toHaveLength(2)
    const status = (await (await fetch(`http://127.0.0.1:${server.port}/control/status`)).json()) as {
      okx: { sent: number; done: boolean }
    }
    expect(status.okx).toMatchObject({ sent: 129, done: true })
    expect((await fetch(`http://127.0.0.1:${server.port}/control/nonsense`, { method: "POST" })).status).toBe(404)
  })

  it("runs as `node dist/replay.js`, printing the environment that points the daemon at it", async () => {
    const replay = await startReplay(["--rate", "200"])
    cleanup.push(() => replay.stop())
    expect(replay.env.FEEDS).toBe("binance,coinbase,kraken,bybit,okx")
    const client = await okxClient(replay.env.OKX_WS_URL!, ["BTC-USDT", "ETH-USDT"])
    await until("synthetic trades", () => client.data().length >= 20, 5_000)
    const ids = client
      .data()
      .filter((f) => f.text.includes('"BTC-USDT"'))
      .map((f) => Number(/"tradeId":"(\d+)"/.exec(f.text)![1]))
    // Contiguous ids, timestamps at send time.
    expect(ids).toEqual(ids.map((_, i) => ids[0]! + i))
    const ts = Number(/"ts":"(\d+)"/.exec(client.data().at(-1)!.text)![1])
    expect(Math.abs(ts - Date.now())).toBeLessThan(2_000)
    client.ws.close()
    const bad = await startReplay(["--speed", "zero"]).catch((e: Error) => e)
    expect(String(bad)).toContain("--speed zero is neither a positive number nor")
  })
})
