import {
  closeSync,
  fdatasync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from "node:fs"
import { join } from "node:path"

/** A segment file is closed and the next one started past this size. */
const SEGMENT_BYTES = 16 * 1024 * 1024
/** How much a read takes from a segment at once; a longer record grows it. */
const READ_CHUNK = 1024 * 1024
/** Segment numbers start here, so that records put back in front (`pushFront`) get smaller numbers than any other. */
const FIRST_SEQ = 1_000_000_000
const NAME = /^(\d{12})\.log$/
const CURSOR = "cursor.json"

interface Segment {
  readonly seq: number
  readonly path: string
  size: number
  /** Bytes of this segment already delivered (committed). */
  offset: number
}

/** A batch read from the queue, delivered for good only once `commit` is called with it. */
export interface DiskRead {
  readonly lines: ReadonlyArray<string>
  readonly seq: number
  readonly end: number
}

export interface DiskQueueRecovery {
  readonly bytes: number
  /** A record cut short by a crash in the middle of a write, dropped from the segment's end. */
  readonly tornBytes: number
}

/**
 * A bounded, ordered queue of text records (one per line) in numbered segment files: appended at the tail, read
 * and committed at the head. What was written survives the process (`kill -9` included: writes reach the page
 * cache at once); the tail is fsynced in batches every `syncEveryMs`, so an OS crash loses at most that much.
 * The read position is kept per segment in `cursor.json` (replaced atomically), so a restart delivers every record
 * not yet committed, at least once. I/O is synchronous on purpose: every call is one short write or read of the
 * page cache, and a queue whose state changes only between two calls needs no locking against its one reader and
 * its producers.
 */
export class DiskQueue {
  private readonly segments: Array<Segment> = []
  private tailFd: number | undefined
  private dirty = false
  private readonly syncTimer: ReturnType<typeof setInterval>
  private pending = 0

  private constructor(
    readonly dir: string,
    readonly maxBytes: number,
    syncEveryMs: number,
  ) {
    this.syncTimer = setInterval(() => this.syncSoon(), syncEveryMs)
    this.syncTimer.unref()
  }

  /** Opens (creating) the queue in `dir`, recovering what a previous process left there. */
  static open(dir: string, maxBytes: number, syncEveryMs = 200): { queue: DiskQueue; recovery: DiskQueueRecovery } {
    mkdirSync(dir, { recursive: true })
    const queue = new DiskQueue(dir, maxBytes, syncEveryMs)
    const cursor = queue.readCursor()
    let tornBytes = 0
    const names = readdirSync(dir)
      .filter((n) => NAME.test(n))
      .sort()
    for (const name of names) {
      const seq = Number(NAME.exec(name)![1])
      const path = join(dir, name)
      const fd = openSync(path, "r+")
      try {
        let size = fstatSync(fd).size
        // A crash in the middle of a write leaves a record without its newline: it was never acknowledged.
        const end = DiskQueue.lastNewline(fd, size)
        if (end < size) {
          tornBytes += size - end
          ftruncateSync(fd, end)
          size = end
        }
        const offset = Math.min(cursor[String(seq)] ?? 0, size)
        if (offset >= size) unlinkSync(path)
        else {
          queue.segments.push({ seq, path, size, offset })
          queue.pending += DiskQueue.countLines(fd, offset, size)
        }
      } finally {
        closeSync(fd)
      }
    }
    queue.writeCursor()
    return { queue, recovery: { bytes: queue.bytes, tornBytes } }
  }

  private static countLines(fd: number, from: number, to: number): number {
    const buf = Buffer.allocUnsafe(READ_CHUNK)
    let n = 0
    for (let pos = from; pos < to;) {
      const got = readSync(fd, buf, 0, Math.min(buf.length, to - pos), pos)
      for (let i = buf.indexOf(10); i >= 0 && i < got; i = buf.indexOf(10, i + 1)) n++
      pos += got
    }
    return n
  }

  private static lastNewline(fd: number, size: number): number {
    const buf = Buffer.alloc(64 * 1024)
    let pos = size
    while (pos > 0) {
      const start = Math.max(0, pos - buf.length)
      const n = readSync(fd, buf, 0, pos - start, start)
      const i = buf.subarray(0, n).lastIndexOf(10)
      if (i >= 0) return start + i + 1
      pos = start
    }
    return 0
  }

  /** Bytes written and not yet committed. */
  get bytes(): number {
    let n = 0
    for (const s of this.segments) n += s.size - s.offset
    return n
  }

  /** Records written and not yet committed. */
  get records(): number {
    return this.pending
  }

  get isEmpty(): boolean {
    return this.segments.length === 0
  }

  /** Whether `bytes` more fit under the bound; an empty queue always takes one batch, however large. */
  fits(bytes: number): boolean {
    return this.isEmpty || this.bytes + bytes <= this.maxBytes
  }

  /** Appends records (each without a newline) at the tail. */
  append(lines: ReadonlyArray<string>): number {
    if (lines.length === 0) return 0
    const text = `${lines.join("\n")}\n`
    let tail = this.segments.at(-1)
    if (tail === undefined || tail.size >= SEGMENT_BYTES) {
      this.closeTail()
      const seq = tail === undefined ? FIRST_SEQ : tail.seq + 1
      tail = { seq, path: this.pathOf(seq), size: 0, offset: 0 }
      this.segments.push(tail)
    }
    if (this.tailFd === undefined) this.tailFd = openSync(tail.path, "a")
    const bytes = writeSync(this.tailFd, text)
    tail.size += bytes
    this.pending += lines.length
    this.dirty = true
    return bytes
  }

  /**
   * Puts records back in front of everything queued (a batch taken from memory whose write failed, and the memory
   * behind it): they are older than anything on disk, so they are delivered first. Synced at once.
   */
  pushFront(lines: ReadonlyArray<string>): number {
    if (lines.length === 0) return 0
    const seq = (this.segments[0]?.seq ?? FIRST_SEQ + 1) - 1
    const path = this.pathOf(seq)
    const text = `${lines.join("\n")}\n`
    const fd = openSync(path, "w")
    try {
      writeSync(fd, text)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    const bytes = Buffer.byteLength(text)
    this.segments.unshift({ seq, path, size: bytes, offset: 0 })
    this.pending += lines.length
    return bytes
  }

  /** Up to `max` records from the head, not yet committed: the same ones come again until `commit`. */
  read(max: number): DiskRead | undefined {
    const head = this.segments[0]
    if (head === undefined) return undefined
    const fd = openSync(head.path, "r")
    try {
      // Chunk after chunk until `max` records: a batch cut at one chunk's worth of records would make a sink that
      // drains its disk buffer send many small writes, and fall further behind than the one that spilled.
      const lines: Array<string> = []
      let pos = head.offset
      let chunk = READ_CHUNK
      while (lines.length < max && pos < head.size) {
        const want = Math.min(chunk, head.size - pos)
        const buf = Buffer.allocUnsafe(want)
        const n = readSync(fd, buf, 0, want, pos)
        let start = 0
        while (lines.length < max) {
          const nl = buf.indexOf(10, start)
          if (nl < 0 || nl >= n) break
          lines.push(buf.toString("utf8", start, nl))
          start = nl + 1
        }
        if (start === 0) {
          if (want < head.size - pos) chunk *= 4
          else if (lines.length > 0) break
          else throw new Error(`${head.path}: no complete record after ${pos}`)
        }
        pos += start
      }
      return { lines, seq: head.seq, end: pos }
    } finally {
      closeSync(fd)
    }
  }

  /** Marks a read as delivered; a segment read to its end is deleted, unless more is being appended to it. */
  commit(read: DiskRead): void {
    const segment = this.segments.find((s) => s.seq === read.seq)
    if (segment === undefined) return
    segment.offset = Math.max(segment.offset, read.end)
    this.pending = Math.max(0, this.pending - read.lines.length)
    if (segment.offset >= segment.size) {
      if (segment === this.segments.at(-1)) this.closeTail()
      unlinkSync(segment.path)
      this.segments.splice(this.segments.indexOf(segment), 1)
      if (this.segments.length === 0) this.pending = 0
    }
    this.writeCursor()
  }

  /** Syncs and closes the tail; the queue's files stay for the next process. */
  close(): void {
    clearInterval(this.syncTimer)
    this.closeTail()
  }

  private syncSoon(): void {
    if (!this.dirty || this.tailFd === undefined) return
    this.dirty = false
    const fd = this.tailFd
    fdatasync(fd, () => undefined)
  }

  private closeTail(): void {
    if (this.tailFd === undefined) return
    fsyncSync(this.tailFd)
    closeSync(this.tailFd)
    this.tailFd = undefined
    this.dirty = false
  }

  private pathOf(seq: number): string {
    return join(this.dir, `${String(seq).padStart(12, "0")}.log`)
  }

  private readCursor(): Record<string, number> {
    try {
      const fd = openSync(join(this.dir, CURSOR), "r")
      try {
        const buf = Buffer.alloc(fstatSync(fd).size)
        readSync(fd, buf, 0, buf.length, 0)
        const parsed = JSON.parse(buf.toString("utf8")) as unknown
        return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, number>) : {}
      } finally {
        closeSync(fd)
      }
    } catch {
      return {}
    }
  }

  /** Written beside and renamed over, so a crash leaves the old cursor or the new one, never half of one. */
  private writeCursor(): void {
    const cursor: Record<string, number> = {}
    for (const s of this.segments) if (s.offset > 0) cursor[String(s.seq)] = s.offset
    const tmp = join(this.dir, `${CURSOR}.tmp`)
    writeFileSync(tmp, JSON.stringify(cursor))
    renameSync(tmp, join(this.dir, CURSOR))
  }
}
