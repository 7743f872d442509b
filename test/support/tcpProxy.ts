import { createServer, type Socket, connect } from "node:net"

/**
 * A TCP forwarder to `upstream` on a port of its own: `cut()` drops every connection and refuses new ones (an
 * outage of that one service for one test, without touching the machine's server), `restore()` ends it.
 */
export const startTcpProxy = async (upstream: { readonly host: string; readonly port: number }) => {
  const open = new Set<Socket>()
  let down = false
  const server = createServer((client) => {
    if (down) return void client.destroy()
    const target = connect(upstream.port, upstream.host)
    for (const s of [client, target]) {
      open.add(s)
      s.on("error", () => undefined)
      s.on("close", () => {
        open.delete(s)
        client.destroy()
        target.destroy()
      })
    }
    client.pipe(target)
    target.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as { port: number }
  return {
    port,
    cut: () => {
      down = true
      for (const s of open) s.destroy()
    },
    restore: () => {
      down = false
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy()
        server.close(() => resolve())
      }),
  }
}
