import { Chunk, Data, Deferred, Duration, Effect, Exit, FiberId, Mailbox, Metric, type Option } from "effect"
import WebSocket from "ws"
import * as Metrics from "../../layers/Metrics.js"
import type { ExchangeId } from "../../schema/Market.js"

/** Anything that ends a feed connection; always retryable by reconnecting. */
export class FeedError extends Data.TaggedError("FeedError")<{
  readonly exchange: ExchangeId
  readonly op: "connect" | "read" | "send" | "liveness" | "stale" | "closed"
  readonly reason: string
  /** The socket's own error, where there was one. */
  readonly cause?: unknown
}> {
  override get message(): string {
    return `${this.exchange} feed ${this.op}: ${this.reason}`
  }
}

export interface InboundFrame {
  readonly raw: string
  /** Effect clock time when the frame arrived. */
  readonly recvTs: number
}

export interface FeedSocketOptions {
  readonly exchange: ExchangeId
  readonly url: string
  /** Largest frame accepted; a bigger one closes the connection (counted as "oversize") and it is reopened. */
  readonly maxPayload: number
  /** Frames buffered before the socket is paused, and the level at which it resumes. */
  readonly highWaterMark: number
  readonly lowWaterMark: number
  /**
   * With fewer than `coalesceFrames` frames waiting, a take first waits this long for more (0: never), or until
   * that many wait, whichever comes first.
   */
  readonly coalesce: Duration.Duration
  readonly coalesceFrames: number
  /**
   * The wait applies only after a take of at least this many frames, i.e. while the feed is busy: a quiet feed's
   * frames go at once, for the least latency where the cores have time to spare.
   */
  readonly busyFrames: number
  readonly pingInterval: Duration.Duration
  readonly pongTimeout: Duration.Duration
  /** An application-level ping text (Bybit, OKX, Kraken); undefined sends WebSocket ping frames. */
  readonly ping?: string
}

export interface FeedSocket {
  readonly send: (text: string) => Effect.Effect<void, FeedError>
  /** Takes the frames buffered so far (at least one); fails once the connection closed and every frame was taken. */
  readonly take: Effect.Effect<ReadonlyArray<InboundFrame>, FeedError>
  /** Connection liveness: fails when a ping goes unanswered and nothing else arrived either. */
  readonly liveness: Effect.Effect<never, FeedError>
  readonly isPaused: () => boolean
  /** Frames read and not yet taken. */
  readonly buffered: () => Option.Option<number>
}

/**
 * A WebSocket whose frames queue in a mailbox drained by the feed actor. When the feed falls behind by
 * `highWaterMark` frames the socket is paused, so unread data stays in the kernel and the exchange's TCP window
 * instead of the heap; it resumes below `lowWaterMark`. Nothing is dropped: the few frames ws has already read
 * when it pauses still queue, which is what bounds the queue at high-water mark plus one socket read.
 */
export const open = (o: FeedSocketOptions) =>
  Effect.gen(function* () {
    const clock = yield* Effect.clock
    const frames = yield* Mailbox.make<InboundFrame, FeedError>()
    const fail = (op: FeedError["op"], reason: string, cause?: Error) =>
      new FeedError({ exchange: o.exchange, op, reason, cause })
    let heard = true
    let paused = false
    let opened = false
    let closeReason: FeedError | undefined
    /** Set while a take waits for a fuller batch: fired once `coalesceFrames` frames wait. */
    let enough: Deferred.Deferred<void> | undefined

    const ws = yield* Effect.acquireRelease(
      Effect.async<WebSocket, FeedError>((resume) => {
        const socket = new WebSocket(o.url, { maxPayload: o.maxPayload, handshakeTimeout: 10_000 })
        socket.on("message", (data, isBinary) => {
          heard = true
          const raw = isBinary || typeof data !== "string" ? data.toString() : data
          frames.unsafeOffer({ raw, recvTs: clock.unsafeCurrentTimeMillis() })
          const size = sizeOf(frames)
          if (enough !== undefined && size >= o.coalesceFrames) {
            Deferred.unsafeDone(enough, Exit.void)
            enough = undefined
          }
          if (!paused && size >= o.highWaterMark) {
            paused = true
            socket.pause()
            Effect.runSync(Metric.increment(Metric.tagged(Metrics.feedPaused, "exchange", o.exchange)))
          }
        })
        socket.on("pong", () => {
          heard = true
        })
        socket.on("error", (err: Error & { code?: string }) => {
          if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH")
            Effect.runSync(Metric.increment(Metric.tagged(Metrics.framesRejected, "reason", "oversize")))
          closeReason ??= fail(opened ? "read" : "connect", err.message, err)
          resume(Effect.fail(closeReason))
        })
        socket.on("unexpected-response", (_req, res) => {
          closeReason = fail("connect", `HTTP ${res.statusCode} ${res.statusMessage ?? ""}`.trim())
          resume(Effect.fail(closeReason))
          socket.terminate()
        })
        socket.on("open", () => {
          opened = true
          resume(Effect.succeed(socket))
        })
        socket.on("close", (code, reason) => {
          const why = closeReason ?? fail("closed", `code ${code}${reason.length > 0 ? ` ${reason.toString()}` : ""}`)
          frames.unsafeDone(Exit.fail(why))
        })
        return Effect.sync(() => socket.terminate())
      }),
      (socket) => Effect.sync(() => socket.terminate()),
    )

    const send = (text: string) =>
      Effect.async<void, FeedError>((resume) => {
        ws.send(text, (err) => resume(err ? Effect.fail(fail("send", err.message, err)) : Effect.void))
      })

    let lastTaken = 0
    const takeAll = frames.takeAll.pipe(
      Effect.map(([chunk]) => {
        if (paused && sizeOf(frames) <= o.lowWaterMark) {
          paused = false
          ws.resume()
        }
        lastTaken = chunk.length
        return Chunk.toReadonlyArray(chunk)
      }),
    )
    const coalesceMs = Duration.toMillis(o.coalesce)
    // A batch costs the router and every aggregator it touches about the same whatever its size: with fewer frames
    // waiting than make a full one, wait a moment for more, so a busy feed hands over fewer, fuller batches. The wait
    // ends early once a full batch waits, so that it never holds the buffer up to the pause mark. It comes before
    // the take, never after it: frames already taken would be lost if the fiber were interrupted (a rotation's
    // overlap ends that way) while it waited.
    const waitForMore = Effect.suspend(() => {
      const full = Deferred.unsafeMake<void>(FiberId.none)
      enough = full
      return Effect.raceFirst(Deferred.await(full), Effect.sleep(o.coalesce)).pipe(
        Effect.ensuring(Effect.sync(() => (enough = undefined))),
      )
    })
    const take = Effect.suspend(() =>
      coalesceMs === 0 || lastTaken < o.busyFrames || sizeOf(frames) >= o.coalesceFrames
        ? takeAll
        : Effect.zipRight(waitForMore, takeAll),
    )

    // Any frame answers as well as a pong does: a busy connection is plainly alive, and venues with text pings
    // answer with a frame. The ping is sent regardless, because some venues (OKX, Bybit) close connections that
    // do not send anything themselves.
    const liveness = Effect.gen(function* () {
      while (true) {
        yield* Effect.sleep(o.pingInterval)
        heard = false
        if (o.ping === undefined) ws.ping()
        else ws.send(o.ping)
        yield* Effect.sleep(o.pongTimeout)
        // A paused socket reads nothing, pongs included; the backlog it holds is proof enough of life.
        if (!heard && !paused)
          return yield* Effect.fail(fail("liveness", `no answer to a ping within ${Duration.format(o.pongTimeout)}`))
      }
    })

    return { send, take, liveness, isPaused: () => paused, buffered: () => frames.unsafeSize() } satisfies FeedSocket
  })

const sizeOf = (mb: Mailbox.ReadonlyMailbox<unknown, unknown>): number => {
  const size = mb.unsafeSize()
  return size._tag === "Some" ? size.value : 0
}
