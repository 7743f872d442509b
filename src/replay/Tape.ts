import { existsSync, readFileSync } from "node:fs"
import type { ReplayProtocol } from "../exchanges/ReplayProtocol.js"
import type { MarketEvent } from "../exchanges/ReplayProtocol.js"
import { synthetic, type SyntheticSpec } from "./Synthetic.js"

/**
 * What a replay plays, in order: recorded frames (routed by their topic) or synthetic events (encoded for the
 * exchange when sent). `at` is the offset in ms from the first item, for paced playback.
 */
export interface RecordedItem {
  readonly at: number
  readonly topic: string
  readonly frame: string
}

/**
 * A frame sent as it is to the topic's subscribers and nothing else: no REST history, no re-send on reconnect, no
 * time shift. What a fault test interleaves (malformed, hostile or oversized frames).
 */
export interface RawItem {
  readonly at: number
  readonly topic: string
  readonly raw: string
}

export type TapeItem = RecordedItem | RawItem | { readonly at: number; readonly event: MarketEvent }

export type Tape = Iterable<TapeItem>

/**
 * Frames files in the format of shared/fixtures: one frame per line, with an optional `.meta.tsv` beside it whose
 * `recv_ts_epoch_s` column gives the recorded pace. Several files are merged by receive time; frames that carry
 * no market data (acks, heartbeats) are left out, since the server makes its own.
 */
export const recordedTape = (protocol: ReplayProtocol, files: ReadonlyArray<string>): Array<RecordedItem> => {
  const items: Array<{ recv: number; order: number; topic: string; frame: string }> = []
  for (const file of files) {
    const lines = readFileSync(file, "utf8")
      .split("\n")
      .filter((l) => l.length > 0)
    const metaFile = file.replace(/\.jsonl$/, ".meta.tsv")
    const recv = existsSync(metaFile)
      ? readFileSync(metaFile, "utf8")
          .split("\n")
          .slice(1)
          .filter((l) => l.length > 0)
          .map((l) => Number(l.split("\t")[1]) * 1_000)
      : []
    lines.forEach((frame, i) => {
      const topic = protocol.topicOf(frame)
      if (topic !== undefined) items.push({ recv: recv[i] ?? Number.NaN, order: items.length, topic, frame })
    })
  }
  // Without receive times the file order is the pace (as fast as the client reads).
  items.sort((a, b) =>
    Number.isNaN(a.recv) || Number.isNaN(b.recv) ? a.order - b.order : a.recv - b.recv || a.order - b.order,
  )
  const t0 = items.find((x) => !Number.isNaN(x.recv))?.recv ?? 0
  return items.map((x) => ({ at: Number.isNaN(x.recv) ? 0 : Math.round(x.recv - t0), topic: x.topic, frame: x.frame }))
}

export const syntheticTape = (spec: SyntheticSpec): Tape => ({ [Symbol.iterator]: () => synthetic(spec) })
