import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'

const LOWEST_PORT = 20_000

/**
 * Finds `count` distinct TCP ports on 127.0.0.1 that are free right now.
 *
 * Ports come from below the kernel's ephemeral range: a port in that range
 * can be taken as the local port of any outgoing connection while its server
 * is down between a kill and a restart, and then the restart cannot bind it.
 * All ports are held until every one is found, so a call never returns one
 * twice. Another process can still bind a port first; callers retry a start
 * that fails with "address in use".
 */
export async function findFreePorts(count: number): Promise<number[]> {
  const ceiling = ephemeralRangeStart()
  const held: Server[] = []
  try {
    for (let attempt = 0; held.length < count; attempt++) {
      const port = ceiling > LOWEST_PORT + 1_000 && attempt < 100 * count
        ? LOWEST_PORT + Math.floor(Math.random() * (ceiling - LOWEST_PORT))
        : 0
      const server = await listenOn(port)
      if (server) held.push(server)
    }
    return held.map(portOf)
  } finally {
    await Promise.all(held.map((server) => new Promise((resolve) => server.close(resolve))))
  }
}

function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)
    return Number(low) || 32_768
  } catch {
    return 32_768 // Linux default; other systems are not kept off the range, only retried
  }
}

function listenOn(port: number): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (port !== 0 && (error.code === 'EADDRINUSE' || error.code === 'EACCES')) resolve(undefined)
      else reject(error)
    })
    server.listen({ host: '127.0.0.1', port, exclusive: true }, () => resolve(server))
  })
}

function portOf(server: Server): number {
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('server has no TCP address')
  return address.port
}
