import type { MariaDbContainer } from '@testcontainers/mariadb'
import type { PostgreSqlContainer } from '@testcontainers/postgresql'
import type { ContainerRuntimeClient, StartedTestContainer } from 'testcontainers'
import type { ShardConfig } from '../../config/shard-config.js'
import { LocalClusterError } from '../local-cluster-errors.js'
import type { ServerInfo } from '../local-cluster.js'
import { shardConfigsFor, type ManagedServer } from '../managed-server.js'
import { acceptsMysqlConnections } from '../mysql-handshake-probe.js'
import { pollUntil } from '../poll-until.js'
import type { ServerPlan } from '../server-plan.js'
import { findFreePorts } from '../local/free-ports.js'

/**
 * What the lazily imported testcontainers packages provide.
 *
 * ```ts
 * const runtime: ContainerRuntime = { client: await getContainerRuntimeClient(), PostgreSqlContainer, MariaDbContainer }
 * ```
 */
export interface ContainerRuntime {
  client: ContainerRuntimeClient
  PostgreSqlContainer: typeof PostgreSqlContainer
  MariaDbContainer: typeof MariaDbContainer
}

const PASSWORD = 'shardtx'
const READY_TIMEOUT_MS = 120_000

/**
 * One database server in a container. The host port is fixed at creation,
 * not left to Docker, so that shard configs stay valid across a kill and a
 * restart (Docker would map a restarted container to a new random port).
 *
 * ```ts
 * const server = new ContainerServer(plan, { runtime, image: 'postgres:16-alpine', durable: false })
 * await server.start()
 * ```
 */
export class ContainerServer implements ManagedServer {
  readonly plan: ServerPlan
  readonly #runtime: ContainerRuntime
  readonly #image: string
  readonly #durable: boolean
  #container: StartedTestContainer | undefined
  #host = '127.0.0.1'
  #port = 0
  #running = false

  constructor(plan: ServerPlan, settings: { runtime: ContainerRuntime; image: string; durable: boolean }) {
    this.plan = plan
    this.#runtime = settings.runtime
    this.#image = settings.image
    this.#durable = settings.durable
  }

  get shards(): ShardConfig[] {
    return this.plan.dialect === 'postgres'
      ? shardConfigsFor(this.plan, { host: this.#host, port: this.#port, user: 'postgres', password: PASSWORD })
      : shardConfigsFor(this.plan, { host: this.#host, port: this.#port, user: 'root', password: PASSWORD })
  }

  info(): ServerInfo {
    return {
      dialect: this.plan.dialect,
      host: this.#host,
      port: this.#port,
      pid: undefined,
      dataDir: undefined,
      running: this.#running,
      shardIds: this.plan.shards.map((shard) => shard.id),
    }
  }

  /** Creates and starts the container and the planned databases. */
  async start(): Promise<void> {
    ;[this.#port] = (await findFreePorts(1)) as [number]
    const [first, ...others] = this.plan.shards.map((shard) => shard.database)
    const container = this.plan.dialect === 'postgres'
      ? await new this.#runtime.PostgreSqlContainer(this.#image)
          .withDatabase(first!)
          .withUsername('postgres')
          .withPassword(PASSWORD)
          .withExposedPorts({ container: 5432, host: this.#port })
          .withCommand(['postgres', ...this.#postgresSettings()])
          .start()
      : await new this.#runtime.MariaDbContainer(this.#image)
          .withDatabase(first!)
          .withRootPassword(PASSWORD)
          .withExposedPorts({ container: 3306, host: this.#port })
          .withCommand(['--max-connections=500', '--skip-name-resolve', ...this.#mariadbSettings()])
          .start()
    this.#container = container
    this.#host = container.getHost()
    this.#running = true
    for (const database of others) await this.#exec(this.#createDatabaseCommand(database))
  }

  async kill(): Promise<void> {
    if (!this.#running) return
    const container = this.#runtime.client.container.getById(this.#containerId())
    await container.kill({ signal: 'SIGKILL' })
    await container.wait()
    this.#running = false
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    await this.#runtime.client.container.stop(this.#runtime.client.container.getById(this.#containerId()), { timeout: 60_000 })
    this.#running = false
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.#runtime.client.container.start(this.#runtime.client.container.getById(this.#containerId()))
    this.#running = true
    await pollUntil(() => this.#acceptsConnections(), {
      timeoutMs: READY_TIMEOUT_MS,
      onTimeout: () => new LocalClusterError('LOCAL_CLUSTER_START', `container ${this.plan.name} did not accept connections after restart`),
    })
  }

  async destroy(): Promise<void> {
    await this.#container?.stop({ remove: true, removeVolumes: true, timeout: 0 })
    this.#running = false
  }

  #containerId(): string {
    if (!this.#container) throw new LocalClusterError('LOCAL_CLUSTER_START', `container ${this.plan.name} was never started`)
    return this.#container.getId()
  }

  async #acceptsConnections(): Promise<boolean> {
    if (this.plan.dialect === 'mysql') return acceptsMysqlConnections(this.#host, this.#port)
    const result = await this.#container!.exec(['pg_isready', '-h', '127.0.0.1', '-U', 'postgres'])
    return result.exitCode === 0
  }

  async #exec(command: string[]): Promise<void> {
    const result = await this.#container!.exec(command)
    if (result.exitCode !== 0) {
      throw new LocalClusterError('LOCAL_CLUSTER_START', `${command.join(' ')} failed in ${this.plan.name}: ${result.output}`)
    }
  }

  #createDatabaseCommand(database: string): string[] {
    return this.plan.dialect === 'postgres'
      ? ['psql', '-U', 'postgres', '-d', 'postgres', '-c', `CREATE DATABASE "${database}"`]
      : ['mariadb', '-uroot', `-p${PASSWORD}`, '-e', `CREATE DATABASE \`${database}\``]
  }

  #postgresSettings(): string[] {
    const settings = ['max_connections=300', 'max_prepared_transactions=100']
    // Same settings as the local backend; see postgres-server.ts for why synchronous_commit stays on.
    if (!this.#durable) settings.push('fsync=off', 'full_page_writes=off')
    return settings.flatMap((setting) => ['-c', setting])
  }

  #mariadbSettings(): string[] {
    return this.#durable ? [] : ['--innodb-flush-log-at-trx-commit=2', '--sync-binlog=0', '--innodb-doublewrite=0']
  }
}
