/**
 * WebSocket text messages, server to client (unmasked, unfragmented, uncompressed: RFC 6455 §5.2), encoded into
 * one buffer: what `ws` would write for each, written at once. At tens of thousands of frames a second, `ws.send`
 * made a buffer and a header per frame and a `writev` of them all; the replay exchange shares the machine with the
 * daemon it measures.
 */
export const textFrames = (frames: ReadonlyArray<string>): Buffer => {
  const lengths = frames.map((f) => Buffer.byteLength(f))
  let total = 0
  for (const n of lengths) total += headerLength(n) + n
  const out = Buffer.allocUnsafe(total)
  let at = 0
  for (let i = 0; i < frames.length; i++) {
    const n = lengths[i]!
    // FIN and the text opcode.
    out[at++] = 0x81
    if (n < 126) out[at++] = n
    else if (n < 65_536) {
      out[at++] = 126
      out.writeUInt16BE(n, at)
      at += 2
    } else {
      out[at++] = 127
      out.writeBigUInt64BE(BigInt(n), at)
      at += 8
    }
    at += out.write(frames[i]!, at)
  }
  return out
}

const headerLength = (payload: number) => (payload < 126 ? 2 : payload < 65_536 ? 4 : 10)
