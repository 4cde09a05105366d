import { createServer, connect, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import type { PartitionMode } from './fault-options.js'

/** Where a proxy forwards to; read at every new connection, so a restarted server is found again. */
export type ProxyTarget = () => { host: string; port: number }

/**
 * One client connection and its upstream twin. `dead` flows drop every byte
 * in both directions while both sockets stay open: what a client sees when
 * a firewall, NAT or failover silently forgets the flow.
 */
interface Flow {
  client: Socket
  upstream: Socket | undefined
  dead: boolean
}

/**
 * A TCP proxy on 127.0.0.1 in front of one shard, which can black-hole, reset
 * or slow down the path. Nothing here speaks SQL; it moves bytes.
 *
 * - `blackhole`: existing flows go silent both ways, sockets stay open; new
 *   connections are accepted and never answered. After `heal()` those flows
 *   stay silent (the harsher of the two things a real network may do); only new
 *   connections pass again.
 * - `reset`: every flow is closed with a TCP RST on both sides; new connections
 *   are reset as soon as they are accepted.
 * - latency: each chunk is held `ms` before it is passed on, in order, both ways.
 */
export class FaultProxy {
  readonly #target: ProxyTarget
  readonly #server: Server
  readonly #flows = new Set<Flow>()
  #mode: PartitionMode | undefined
  #latencyMs = 0

  constructor(target: ProxyTarget) {
    this.#target = target
    this.#server = createServer({ noDelay: true }, (client) => this.#accept(client))
  }

  /** Listens on a free port of 127.0.0.1 (never another interface). */
  async listen(): Promise<void> {
    this.#server.listen(0, '127.0.0.1')
    await once(this.#server, 'listening')
  }

  get port(): number {
    const address = this.#server.address()
    if (address === null || typeof address === 'string') throw new Error('fault proxy is not listening')
    return address.port
  }

  get mode(): PartitionMode | undefined {
    return this.#mode
  }

  get latencyMs(): number {
    return this.#latencyMs
  }

  async partition(mode: PartitionMode): Promise<void> {
    this.#mode = mode
    for (const flow of this.#flows) {
      if (mode === 'blackhole') this.#silence(flow)
      else this.#reset(flow)
    }
    if (mode === 'reset') await this.#closed([...this.#flows])
  }

  /** New connections pass again, without added latency; silenced flows stay silent. */
  heal(): void {
    this.#mode = undefined
    this.#latencyMs = 0
  }

  delay(ms: number): void {
    this.#latencyMs = ms
  }

  /** Destroys every flow and stops listening. */
  async close(): Promise<void> {
    const flows = [...this.#flows]
    for (const flow of flows) this.#reset(flow)
    await this.#closed(flows)
    if (this.#server.listening) {
      this.#server.close()
      await once(this.#server, 'close')
    }
  }

  #accept(client: Socket): void {
    const flow: Flow = { client, upstream: undefined, dead: false }
    this.#flows.add(flow)
    client.on('close', () => {
      this.#flows.delete(flow)
      // The client gave up on a silenced flow: nothing can reach upstream any more.
      if (flow.dead) flow.upstream?.destroy()
    })
    client.on('error', () => this.#peerGone(flow, 'reset'))
    if (this.#mode === 'reset') return this.#reset(flow)
    if (this.#mode === 'blackhole') return this.#silence(flow)
    const { host, port } = this.#target()
    const upstream = connect({ host, port, noDelay: true })
    flow.upstream = upstream
    // A refused or broken upstream reaches the client as a reset, as it would without the proxy.
    upstream.on('error', () => this.#peerGone(flow, 'reset'))
    upstream.on('end', () => this.#peerGone(flow, 'end'))
    client.on('end', () => this.#peerGone(flow, 'end'))
    this.#forward(flow, client, upstream)
    this.#forward(flow, upstream, client)
  }

  #forward(flow: Flow, from: Socket, to: Socket): void {
    // One chain per direction keeps chunks in order when latency changes mid-stream.
    let chain = Promise.resolve()
    from.on('data', (chunk: Buffer) => {
      if (flow.dead) return
      const write = (): void => {
        if (flow.dead || to.destroyed) return
        if (!to.write(chunk)) {
          from.pause()
          to.once('drain', () => from.resume())
        }
      }
      const ms = this.#latencyMs
      if (ms === 0) {
        chain = chain.then(write)
      } else {
        chain = chain.then(() => new Promise<void>((resolve) => setTimeout(resolve, ms).unref())).then(write)
      }
    })
  }

  #silence(flow: Flow): void {
    flow.dead = true
    // Keep reading and discarding, so the peer's writes never block on us.
    flow.client.resume()
    flow.upstream?.resume()
  }

  #reset(flow: Flow): void {
    flow.dead = true
    this.#close(flow, 'reset')
  }

  /** One side closed or broke: pass that on, unless the flow is silenced, whose FIN or RST is dropped too. */
  #peerGone(flow: Flow, how: 'end' | 'reset'): void {
    if (!flow.dead) this.#close(flow, how)
  }

  #close(flow: Flow, how: 'end' | 'reset'): void {
    for (const socket of [flow.client, flow.upstream]) {
      if (socket === undefined || socket.destroyed) continue
      if (how === 'end') socket.end()
      else if (socket.connecting || socket.readyState === 'closed') socket.destroy()
      else socket.resetAndDestroy()
    }
  }

  async #closed(flows: readonly Flow[]): Promise<void> {
    await Promise.all(
      flows.flatMap((flow) => [flow.client, flow.upstream]).map((socket) => {
        if (socket === undefined || socket.closed) return undefined
        return once(socket, 'close')
      }),
    )
  }
}
