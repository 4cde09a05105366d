import { createServer, type Server, type Socket, connect } from 'node:net'
import type { ConnectionObject, ShardConfig } from '../../src/config/shard-config.js'
import { closedPort } from '../reliability/leak-checks.js'

/**
 * A TCP relay on a fixed port to a real server: closed at first (the shard refuses
 * connections), opened on demand (the shard is back), and able to cut every relayed
 * connection at an exact protocol step (the server vanishes mid-commit) or close the
 * next few connections as they come.
 */
export class Relay {
  #server: Server | undefined
  readonly #sockets = new Set<Socket>()
  /** The server side of each relayed connection. */
  readonly #upstreams = new Set<Socket>()
  #refusing = 0
  /** How many connections were accepted and closed at once by {@link refuseNext}. */
  refused = 0
  constructor(
    readonly port: number,
    private readonly target: { host: string; port: number },
  ) {}

  async open(): Promise<void> {
    const server = createServer((client) => {
      if (this.#refusing > 0) {
        this.#refusing--
        this.refused++
        client.destroy()
        return
      }
      const upstream = connect(this.target.port, this.target.host)
      this.#upstreams.add(upstream)
      upstream.on('close', () => this.#upstreams.delete(upstream))
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

  /** The next `count` connections are accepted and closed at once (a server that is not taking any yet). */
  refuseNext(count: number): void {
    this.#refusing = count
  }

  /**
   * The connections relayed now stop carrying the server's answers (what the client
   * sends still arrives): a statement runs on the server and its answer is lost. New
   * connections are relayed both ways.
   */
  muteAnswers(): void {
    for (const upstream of this.#upstreams) {
      upstream.unpipe()
      upstream.on('data', () => {})
    }
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

/**
 * A shard `id` on the same database as `real`, reached only through a new relay on a
 * free port (closed until opened). `direct` is how to reach the database without it.
 *
 * ```ts
 * const { relay, shard } = await relayedShard(sharedShards('postgres')[0]!, 'flaky')
 * await relay.open()
 * ```
 */
export async function relayedShard(real: ShardConfig, id: string): Promise<{ relay: Relay; shard: ShardConfig; direct: ConnectionObject }> {
  const direct = real.connection as ConnectionObject
  const relay = new Relay(await closedPort(), { host: direct.host ?? '127.0.0.1', port: direct.port! })
  return { relay, shard: { ...real, id, connection: { ...direct, port: relay.port } }, direct }
}
