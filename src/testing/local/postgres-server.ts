import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, chownSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { ServerPlan } from '../server-plan.js'
import { findPostgresBinaries, type PostgresBinaries } from './find-binaries.js'
import type { LocalServer, LocalServerRecipe } from './local-server.js'
import { postgresRunAs, type RunAs } from './run-as.js'
import { copyDataDir } from './copy-data-dir.js'
import { runProgram } from './run-program.js'
import { LocalServerBase } from './local-server-base.js'

/** Enough for several pools of 10–20 connections per shard, times two shards per server. */
const MAX_CONNECTIONS = 300
const MAX_PREPARED_TRANSACTIONS = 100
const START_TIMEOUT_MS = 120_000
const STOP_TIMEOUT_MS = 60_000

/**
 * PostgreSQL for the `local` backend: initdb, postgres and psql, run as the
 * `postgres` OS user when this process is root (see {@link postgresRunAs}).
 */
export const postgresLocalRecipe: LocalServerRecipe = {
  prepare(searchPath) {
    const binaries = findPostgresBinaries(searchPath)
    const runAs = postgresRunAs()
    return { runAs, create: (plan, settings) => new LocalPostgresServer(plan, { ...settings, binaries, runAs }) }
  },
}

/**
 * A throwaway PostgreSQL server: its own data directory, 127.0.0.1 only,
 * prepared transactions enabled, superuser `postgres` with trust auth.
 */
export class LocalPostgresServer extends LocalServerBase implements LocalServer {
  protected readonly dialect = 'postgres'
  protected readonly user = 'postgres'
  readonly #binaries: PostgresBinaries
  readonly #runAs: RunAs
  readonly #durable: boolean
  readonly #extraArgs: readonly string[]
  /** SysV shared memory id of the running postmaster, read once it is ready. */
  #shmid: string | undefined

  constructor(
    plan: ServerPlan,
    settings: { dir: string; binaries: PostgresBinaries; runAs: RunAs; durable: boolean; extraArgs: readonly string[] },
  ) {
    super(plan, settings.dir)
    this.#binaries = settings.binaries
    this.#runAs = settings.runAs
    this.#durable = settings.durable
    this.#extraArgs = settings.extraArgs
  }

  async init(): Promise<void> {
    this.#makeDir()
    // --no-sync: the fsync of a fresh data directory only guards against an OS
    // crash, which a throwaway server never outlives.
    await runProgram(
      this.#binaries.initdb,
      ['-D', this.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '--encoding=UTF8', '--locale=C'],
      { cwd: this.dir, logFile: this.logFile, runAs: this.#runAs, timeoutMs: START_TIMEOUT_MS },
    )
  }

  async initFrom(source: LocalServer): Promise<void> {
    this.#makeDir()
    await copyDataDir(source.dataDir, this.dataDir, { runAs: this.#runAs, logFile: this.logFile, cwd: this.dir })
  }

  async start(): Promise<void> {
    // After a kill the old lock file names a dead pid; postgres would refuse
    // to start if that pid had since been reused by another postgres-owned process.
    rmSync(join(this.dataDir, 'postmaster.pid'), { force: true })
    this.serverProcess.spawn({ command: this.#binaries.postgres, args: this.#args(), cwd: this.dir, logFile: this.logFile, runAs: this.#runAs })
    await this.serverProcess.waitUntilReady(`postgres ${this.plan.name} on port ${this.port}`, () => this.#postmasterReady(), START_TIMEOUT_MS)
  }

  async createDatabases(): Promise<void> {
    const creates = this.plan.shards.flatMap(({ database }) => ['-c', `CREATE DATABASE "${database}"`])
    await runProgram(
      this.#binaries.psql,
      ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', '-d', 'postgres', ...creates],
      { cwd: this.dir, logFile: this.logFile, runAs: undefined, timeoutMs: START_TIMEOUT_MS, env: { PGCONNECT_TIMEOUT: '10' } },
    )
  }

  portWasBusy(): boolean {
    return /could not bind .*Address already in use/i.test(this.serverProcess.logSinceSpawn())
  }

  async kill(): Promise<void> {
    await this.serverProcess.kill()
    this.#releaseSharedMemory()
  }

  async stop(): Promise<void> {
    // SIGINT is "fast" shutdown: open sessions are rolled back and cut off.
    // SIGTERM ("smart") would wait for every client pool to disconnect.
    await this.serverProcess.terminate('SIGINT', STOP_TIMEOUT_MS)
    // A clean shutdown removes postmaster.pid and its own shared memory.
    if (existsSync(join(this.dataDir, 'postmaster.pid'))) this.#releaseSharedMemory()
    this.#shmid = undefined
  }

  async destroy(): Promise<void> {
    await this.kill()
  }

  killSync(): void {
    this.serverProcess.killSync()
    this.#releaseSharedMemory()
  }

  #makeDir(): void {
    mkdirSync(this.dir, { recursive: true })
    if (this.#runAs) chownSync(this.dir, this.#runAs.uid, this.#runAs.gid)
  }

  #args(): string[] {
    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      // TCP only: a socket path under a long TMPDIR can exceed the 107-byte limit.
      unix_socket_directories: '',
      max_connections: MAX_CONNECTIONS,
      max_prepared_transactions: MAX_PREPARED_TRANSACTIONS,
      // synchronous_commit stays on even when not durable: with fsync off a
      // commit costs one write() into the page cache, which survives a
      // SIGKILL; with it off, commits still in the WAL buffers die with the
      // server's shared memory (measured: the last commit before a kill was lost).
      ...(this.#durable ? {} : { fsync: 'off', full_page_writes: 'off' }),
    }
    const flags = Object.entries(settings).flatMap(([name, value]) => ['-c', `${name}=${value}`])
    return ['-D', this.dataDir, '-p', String(this.port), ...flags, ...this.#extraArgs]
  }

  /** postgres marks its lock file "ready" once recovery is over and connections are accepted. */
  #postmasterReady(): boolean {
    let lines: string[]
    try {
      lines = readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')
    } catch {
      return false
    }
    if (Number(lines[0]) !== this.serverProcess.pid || lines[7]?.trim() !== 'ready') return false
    this.#shmid = lines[6]?.trim().split(/\s+/)[1]
    return true
  }

  /**
   * A SIGKILLed postmaster leaves its SysV shared memory segment behind, and
   * nothing else will ever remove it; its id was recorded at start.
   */
  #releaseSharedMemory(): void {
    if (this.#shmid === undefined) return
    spawnSync('ipcrm', ['-m', this.#shmid], { stdio: 'ignore' })
    this.#shmid = undefined
  }
}
