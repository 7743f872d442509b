import type { AddressInfo } from "node:net"
import { WebSocket, WebSocketServer } from "ws"

interface Playlist {
  readonly frames: ReadonlyArray<{ readonly stream: string; readonly raw: string }>
  /** Drop every connection once this many frames of the playlist were sent. */
  readonly dropAt?: number
  /** Frames re-sent from before the cursor when a client reconnects (a real exchange overlap). */
  readonly replayOnReconnect?: number
}

/**
 * A local server speaking Binance's combined-stream protocol well enough for the feed: SUBSCRIBE/ack, then the
 * recorded frames of the subscribed streams, as fast as the socket takes them, resuming after a drop where the
 * previous connection stopped.
 */
export class BinanceServer {
  readonly controlMessages: Array<string> = []
  connections = 0
  private cursor = 0
  private dropped = false
  private playlist: Playlist = { frames: [] }

  private constructor(private readonly wss: WebSocketServer) {
    wss.on("connection", (ws) => this.accept(ws))
  }

  static async start(): Promise<BinanceServer> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 })
    await new Promise<void>((resolve) => wss.once("listening", () => resolve()))
    return new BinanceServer(wss)
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}`
  }

  get sent(): number {
    return this.cursor
  }

  /** Frames as recorded (`{"stream":…,"data":…}` lines); each client gets those of the streams it subscribed to. */
  play(lines: ReadonlyArray<string>, options: Omit<Playlist, "frames"> = {}): void {
    this.playlist = {
      ...options,
      frames: lines.map((raw) => ({ raw, stream: (JSON.parse(raw) as { stream: string }).stream })),
    }
    this.cursor = 0
    this.dropped = false
  }

  /** Sends text as-is to every connected client (malformed input tests). */
  sendRaw(text: string | Buffer): void {
    for (const ws of this.wss.clients) ws.send(text)
  }

  dropAll(): void {
    for (const ws of this.wss.clients) ws.terminate()
  }

  get clients(): number {
    return this.wss.clients.size
  }

  close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate()
    return new Promise((resolve) => this.wss.close(() => resolve()))
  }

  private accept(ws: WebSocket): void {
    this.connections++
    const streams = new Set<string>()
    let playing = false
    ws.on("message", (data) => {
      const text = data.toString()
      this.controlMessages.push(text)
      const msg = JSON.parse(text) as { method?: string; params?: Array<string>; id?: number }
      if (msg.method !== "SUBSCRIBE") return
      for (const p of msg.params ?? []) streams.add(p)
      ws.send(JSON.stringify({ result: null, id: msg.id }))
      if (!playing) {
        playing = true
        // Give a client that subscribes in several messages time to send the rest.
        setTimeout(() => void this.stream(ws, streams), 100)
      }
    })
  }

  private async stream(ws: WebSocket, streams: ReadonlySet<string>): Promise<void> {
    const { frames, dropAt, replayOnReconnect = 0 } = this.playlist
    if (this.connections > 1) this.cursor = Math.max(0, this.cursor - replayOnReconnect)
    while (this.cursor < frames.length && ws.readyState === WebSocket.OPEN) {
      if (dropAt !== undefined && !this.dropped && this.cursor >= dropAt) {
        // Let what was sent arrive first: frames lost in flight would be a real gap, which backfill repairs and
        // this server is not the place to simulate.
        this.dropped = true
        while (ws.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 5))
        await new Promise((r) => setTimeout(r, 200))
        ws.terminate()
        return
      }
      const frame = frames[this.cursor++]!
      if (!streams.has(frame.stream)) continue
      ws.send(frame.raw)
      // Respect the client's pace: wait while the socket's send buffer is full.
      while (ws.bufferedAmount > 1 << 16 && ws.readyState === WebSocket.OPEN) await new Promise((r) => setTimeout(r, 5))
      if (this.cursor % 256 === 0) await new Promise((r) => setImmediate(r))
    }
  }
}
