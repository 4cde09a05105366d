import { createServer, type Server, type Socket, connect } from 'node:net'

/**
 * A TCP relay on a fixed port to a real server: closed at first (the shard refuses
 * connections), opened on demand (the shard is back), and able to cut every relayed
 * connection at an exact protocol step (the server vanishes mid-commit).
 */
export class Relay {
  #server: Server | undefined
  readonly #sockets = new Set<Socket>()
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target.port, this.target.host)
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        this.#sockets.add(a)
        a.on('error', () => b.destroy())
        a.on('close', () => {
          this.#sockets.delete(a)
          b.destroy()
        })
        a.pipe(b)
      }
    })
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(this.port, '127.0.0.1', resolve))
    this.#server = server
  }

  cut(): void {
    for (const socket of this.#sockets) socket.destroy()
  }

  async close(): Promise<void> {
    this.cut()
    const server = this.#server
    this.#server = undefined
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
