import type { ManagedServer } from '../managed-server.js'

/**
 * A server the `local` backend runs from installed binaries: what it needs
 * beyond {@link ManagedServer} to be created on a free port and cleaned up
 * synchronously at process exit.
 *
 * ```ts
 * await server.init(); server.port = 24001; await server.start(); await server.createDatabases()
 * ```
 */
export interface LocalServer extends ManagedServer {
  /** Settable until the first start succeeds; fixed afterwards, so restarts keep it. */
  port: number
  /** Starts the server on `port`; only called when it is not running. */
  start(): Promise<void>
  /** Creates the data directory. */
  init(): Promise<void>
  /** Creates the data directory as a copy of `source`'s, made by init() and never started. */
  initFrom(source: LocalServer): Promise<void>
  readonly dataDir: string
  /** Creates the planned databases; runs once, after the first start. */
  createDatabases(): Promise<void>
  /** True when the last start failed because another process holds the port. */
  portWasBusy(): boolean
  /** For exit handlers: kills the server and frees what it holds, without waiting. */
  killSync(): void
}
