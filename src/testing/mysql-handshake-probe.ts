import { connect } from 'node:net'

const PROTOCOL_VERSION_10 = 0x0a

/**
 * True when a MySQL-protocol server at `host:port` greets a new connection
 * with its handshake packet, i.e. it accepts connections. A port that merely
 * listens is not enough: the kernel completes the TCP handshake while the
 * server is still recovering, so this reads the first packet, with no driver.
 */
export function acceptsMysqlConnections(host: string, port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const finish = (accepted: boolean): void => {
      socket.destroy()
      resolve(accepted)
    }
    socket.setTimeout(timeoutMs, () => finish(false))
    socket.once('error', () => finish(false))
    socket.once('close', () => finish(false))
    // Packet: 3-byte length, 1-byte sequence, then the payload, whose first
    // byte is 10 for a greeting and 0xff for an error such as "shutdown in progress".
    socket.once('data', (chunk: Buffer) => finish(chunk.length > 4 && chunk[4] === PROTOCOL_VERSION_10))
  })
}
