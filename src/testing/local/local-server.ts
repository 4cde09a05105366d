import type { ManagedServer } from '../managed-server.js'
import type { ServerPlan } from '../server-plan.js'
import type { RunAs } from './run-as.js'

/**
 * A server the `local` backend runs from installed binaries: what it needs
 * beyond {@link ManagedServer} to be created on a free port and cleaned up
 * synchronously at process exit.
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

/**
 * How the `local` backend runs one dialect's installed server programs
 * (one entry of the testing dialect registry).
 */
export interface LocalServerRecipe {
  /**
   * Finds the programs and the OS identity to run them as. Called before
   * anything touches the disk, so a missing package fails fast and clean.
   */
  prepare(searchPath: readonly string[] | undefined): LocalServerMaker
}

/** The servers of one dialect, once its programs are found. */
export interface LocalServerMaker {
  /** The OS identity the servers run as when it is not this process's: their directories must be reachable by it. */
  readonly runAs: RunAs
  create(plan: ServerPlan, settings: { dir: string; durable: boolean; extraArgs: readonly string[] }): LocalServer
}
