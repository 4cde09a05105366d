import { join } from 'node:path'
import type { Dialect, ShardConfig } from '../../config/shard-config.js'
import type { ServerInfo } from '../local-cluster.js'
import { shardConfigsFor } from '../managed-server.js'
import type { ServerPlan } from '../server-plan.js'
import { ServerProcess } from './server-process.js'

/**
 * What a throwaway PostgreSQL and a throwaway MariaDB server have in common: a
 * directory of their own (data directory and log inside), one server process on
 * 127.0.0.1, the shards of their plan, and restart as stop-then-start.
 */
export abstract class LocalServerBase {
  readonly plan: ServerPlan
  /** Settable until the first start succeeds; fixed afterwards, so restarts keep it. */
  port = 0
  protected readonly dir: string
  protected readonly serverProcess = new ServerProcess()
  protected abstract readonly dialect: Dialect
  /** The superuser the shards connect as, with an empty password. */
  protected abstract readonly user: string

  constructor(plan: ServerPlan, dir: string) {
    this.plan = plan
    this.dir = dir
  }

  abstract start(): Promise<void>
  abstract stop(): Promise<void>

  get dataDir(): string {
    return join(this.dir, 'data')
  }

  get shards(): ShardConfig[] {
    return shardConfigsFor(this.plan, { host: '127.0.0.1', port: this.port, user: this.user, password: '' })
  }

  info(): ServerInfo {
    return {
      dialect: this.dialect,
      host: '127.0.0.1',
      port: this.port,
      pid: this.serverProcess.pid,
      dataDir: this.dataDir,
      containerId: undefined,
      running: this.serverProcess.running,
      shardIds: this.plan.shards.map((shard) => shard.id),
    }
  }

  async restart(): Promise<void> {
    if (this.serverProcess.running) await this.stop()
    await this.start()
  }

  protected get logFile(): string {
    return join(this.dir, 'server.log')
  }
}
