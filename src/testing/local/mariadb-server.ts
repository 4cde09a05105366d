import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { acceptsMysqlConnections } from '../mysql-handshake-probe.js'
import type { ServerPlan } from '../server-plan.js'
import { findMariadbBinaries, type MariadbBinaries } from './find-binaries.js'
import type { LocalServer, LocalServerRecipe } from './local-server.js'
import { copyDataDir } from './copy-data-dir.js'
import { runProgram } from './run-program.js'
import { LocalServerBase } from './local-server-base.js'

const START_TIMEOUT_MS = 120_000
const STOP_TIMEOUT_MS = 60_000
const REDO_LOG_SIZE = '32M'

/** MariaDB for the `local` backend: mariadbd and mariadb-install-db, run as this process. */
export const mariadbLocalRecipe: LocalServerRecipe = {
  prepare(searchPath) {
    const binaries = findMariadbBinaries(searchPath)
    return { runAs: undefined, create: (plan, settings) => new LocalMariadbServer(plan, { ...settings, binaries }) }
  },
}

/**
 * A throwaway MariaDB server: its own data directory, 127.0.0.1 only, user
 * `root` with an empty password. Runs as root (`--user=root`) when we are root.
 */
export class LocalMariadbServer extends LocalServerBase implements LocalServer {
  protected readonly dialect = 'mysql'
  protected readonly user = 'root'
  readonly #binaries: MariadbBinaries
  readonly #durable: boolean
  readonly #extraArgs: readonly string[]

  constructor(plan: ServerPlan, settings: { dir: string; binaries: MariadbBinaries; durable: boolean; extraArgs: readonly string[] }) {
    super(plan, settings.dir)
    this.#binaries = settings.binaries
    this.#durable = settings.durable
    this.#extraArgs = settings.extraArgs
  }

  async init(): Promise<void> {
    mkdirSync(this.#tmpDir, { recursive: true })
    // The databases are made while the system tables are, so no client
    // program is needed and the first start already has them.
    const initSql = join(this.dir, 'init.sql')
    writeFileSync(initSql, this.plan.shards.map(({ database }) => `CREATE DATABASE \`${database}\`;\n`).join(''))
    await runProgram(
      this.#binaries.installDb,
      [
        '--no-defaults',
        ...this.#userArgs(),
        `--datadir=${this.dataDir}`,
        `--tmpdir=${this.#tmpDir}`,
        // "normal": root logs in over TCP with an empty password ("socket" would need the OS user).
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        `--extra-file=${initSql}`,
        ...this.#storageArgs(),
      ],
      { cwd: this.dir, logFile: this.logFile, runAs: undefined, timeoutMs: START_TIMEOUT_MS },
    )
  }

  async initFrom(source: LocalServer): Promise<void> {
    mkdirSync(this.#tmpDir, { recursive: true })
    await copyDataDir(source.dataDir, this.dataDir, { runAs: undefined, logFile: this.logFile, cwd: this.dir })
  }

  async start(): Promise<void> {
    this.serverProcess.spawn({ command: this.#binaries.server, args: this.#args(), cwd: this.dir, logFile: this.logFile, runAs: undefined })
    await this.serverProcess.waitUntilReady(
      `mariadbd ${this.plan.name} on port ${this.port}`,
      () => acceptsMysqlConnections('127.0.0.1', this.port),
      START_TIMEOUT_MS,
    )
  }

  async createDatabases(): Promise<void> {
    // Already made by init(); see there.
  }

  portWasBusy(): boolean {
    return /Address already in use|Bind on TCP\/IP port/i.test(this.serverProcess.logSinceSpawn())
  }

  kill(): Promise<void> {
    return this.serverProcess.kill()
  }

  stop(): Promise<void> {
    return this.serverProcess.terminate('SIGTERM', STOP_TIMEOUT_MS)
  }

  async destroy(): Promise<void> {
    await this.serverProcess.kill()
  }

  killSync(): void {
    this.serverProcess.killSync()
  }

  /**
   * Each server gets its own tmpdir: mariadbd deletes every `#sql*` file in
   * its tmpdir at start-up, which with a shared /tmp destroys the temporary
   * tables of servers already running (seen: mariadb-install-db failing with
   * 1051 "Unknown table 'mysql.tmp_user_sys'" when several ran at once).
   */
  get #tmpDir(): string {
    return join(this.dir, 'tmp')
  }

  #userArgs(): string[] {
    return process.getuid?.() === 0 ? ['--user=root'] : []
  }

  /**
   * Fast mode keeps SIGKILL-safety: with innodb_flush_log_at_trx_commit=2
   * each commit and XA PREPARE still writes the redo log into the OS page
   * cache, which outlives mariadbd; only the fsync is skipped. With 0 the log
   * stays in mariadbd's memory for up to a second: measured here, a SIGKILL
   * right after XA PREPARE and a commit lost both.
   */
  #storageArgs(): string[] {
    // A 32 MiB redo log instead of 96 MiB: the data directory is copied once
    // per extra server at start-up, and the copy time is mostly this file.
    const redo = `--innodb-log-file-size=${REDO_LOG_SIZE}`
    return this.#durable ? [redo] : [redo, '--innodb-flush-log-at-trx-commit=2', '--sync-binlog=0', '--innodb-doublewrite=0']
  }

  #args(): string[] {
    return [
      '--no-defaults',
      ...this.#userArgs(),
      `--datadir=${this.dataDir}`,
      `--tmpdir=${this.#tmpDir}`,
      `--socket=${join(this.dir, 'mariadbd.sock')}`,
      `--pid-file=${join(this.dir, 'mariadbd.pid')}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      '--max-connections=500',
      ...this.#storageArgs(),
      ...this.#extraArgs,
    ]
  }
}
