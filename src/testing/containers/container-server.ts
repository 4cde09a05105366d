import type { ContainerRuntimeClient, GenericContainer, ImageName, StartedTestContainer } from 'testcontainers'
import type { ShardConfig } from '../../config/shard-config.js'
import { LocalClusterError } from '../local-cluster-errors.js'
import type { ServerInfo } from '../local-cluster.js'
import { shardConfigsFor, type ManagedServer } from '../managed-server.js'
import { pollUntil } from '../poll-until.js'
import type { ServerPlan } from '../server-plan.js'
import { findFreePorts } from '../local/free-ports.js'
import { CONTAINER_PASSWORD, type ContainerRecipe } from './container-recipes.js'

/**
 * What the lazily imported testcontainers package provides.
 */
export interface ContainerRuntime {
  client: ContainerRuntimeClient
  GenericContainer: typeof GenericContainer
  ImageName: typeof ImageName
}

const READY_TIMEOUT_MS = 120_000
const EXIT_TIMEOUT_MS = 60_000
const HOST = '127.0.0.1'

/**
 * One database server in a container on the host's network (no bridge, no
 * port mapping), listening on 127.0.0.1 on a port chosen here and kept for
 * the container's life, so shard configs stay valid across a kill and a
 * restart. The data lives in the container's own filesystem, which a
 * stopped or killed container keeps until it is removed.
 */
export class ContainerServer implements ManagedServer {
  readonly plan: ServerPlan
  readonly #runtime: ContainerRuntime
  readonly #image: string
  readonly #durable: boolean
  readonly #pull: boolean
  readonly #recipe: ContainerRecipe
  #container: StartedTestContainer | undefined
  #port = 0
  #running = false

  constructor(plan: ServerPlan, settings: { runtime: ContainerRuntime; recipe: ContainerRecipe; image: string; durable: boolean; pull: boolean }) {
    this.plan = plan
    this.#runtime = settings.runtime
    this.#image = settings.image
    this.#durable = settings.durable
    this.#pull = settings.pull
    this.#recipe = settings.recipe
  }

  get shards(): ShardConfig[] {
    return shardConfigsFor(this.plan, { host: HOST, port: this.#port, user: this.#recipe.user, password: CONTAINER_PASSWORD })
  }

  /** The container's id once created, for `docker logs` and the like. */
  get containerId(): string | undefined {
    return this.#container?.getId()
  }

  info(): ServerInfo {
    return {
      dialect: this.plan.dialect,
      host: HOST,
      port: this.#port,
      pid: undefined,
      dataDir: undefined,
      containerId: this.containerId,
      running: this.#running,
      shardIds: this.plan.shards.map((shard) => shard.id),
    }
  }

  /** Creates and starts the container, waits until it accepts connections, makes the planned databases. */
  async start(): Promise<void> {
    await this.#checkImage()
    ;[this.#port] = (await findFreePorts(1)) as [number]
    this.#container = await new this.#runtime.GenericContainer(this.#image)
      .withNetworkMode('host')
      .withEnvironment(this.#recipe.environment)
      .withCommand(this.#recipe.command(this.#port, this.#durable))
      // Ryuk, testcontainers' reaper, is itself an image to pull; without pulling, destroy() alone removes the container.
      .withAutoCleanup(this.#pull)
      .start()
    this.#running = true
    await this.#waitUntilReady('start')
    for (const { database } of this.plan.shards) await this.#exec(this.#recipe.createDatabaseCommand(this.#port, database))
  }

  /** A real crash: SIGKILL of the server, the container's main process. */
  async kill(): Promise<void> {
    if (!this.#running) return
    await this.#dockerContainer().kill({ signal: 'SIGKILL' })
    await this.#waitUntilExited()
  }

  async stop(): Promise<void> {
    if (!this.#running) return
    await this.#dockerContainer().kill({ signal: this.#recipe.shutdownSignal })
    await this.#waitUntilExited()
  }

  async restart(): Promise<void> {
    await this.stop()
    await this.#dockerContainer().start()
    this.#running = true
    await this.#waitUntilReady('restart')
  }

  async destroy(): Promise<void> {
    if (!this.#container) return
    await this.#dockerContainer().remove({ force: true, v: true }).catch((error: { statusCode?: number }) => {
      if (error.statusCode !== 404) throw error
    })
    this.#running = false
  }

  async #checkImage(): Promise<void> {
    if (this.#pull) return
    if (await this.#runtime.client.image.exists(this.#runtime.ImageName.fromString(this.#image))) return
    throw new LocalClusterError(
      'LOCAL_CLUSTER_IMAGE_MISSING',
      `image ${this.#image} is not on the container engine, and pulling is off (pull: false); build it first ` +
        '(the shardtx repository\'s scripts/build-local-images.sh builds shardtx-local/postgres and shardtx-local/mariadb ' +
        'from the installed Debian packages), or allow pulling',
    )
  }

  #dockerContainer(): ReturnType<ContainerRuntimeClient['container']['getById']> {
    if (!this.#container) throw new LocalClusterError('LOCAL_CLUSTER_START', `container ${this.plan.name} was never started`)
    return this.#runtime.client.container.getById(this.#container.getId())
  }

  async #waitUntilExited(): Promise<void> {
    const container = this.#dockerContainer()
    await pollUntil(async () => !(await container.inspect()).State.Running, {
      timeoutMs: EXIT_TIMEOUT_MS,
      intervalMs: 50,
      onTimeout: () => new LocalClusterError('LOCAL_CLUSTER_START', `container ${this.plan.name} was still running ${EXIT_TIMEOUT_MS} ms after the signal`),
    })
    this.#running = false
  }

  async #waitUntilReady(phase: 'start' | 'restart'): Promise<void> {
    const container = this.#dockerContainer()
    await pollUntil(
      async () => {
        const { State } = await container.inspect()
        if (!State.Running) {
          const logs = await container.logs({ stdout: true, stderr: true, tail: 20, follow: false }).then(logText, () => '')
          throw new LocalClusterError('LOCAL_CLUSTER_START', `container ${this.plan.name} (${this.#image}) exited during ${phase} (code ${State.ExitCode}):\n${logs}`)
        }
        return this.#acceptsConnections()
      },
      {
        timeoutMs: READY_TIMEOUT_MS,
        intervalMs: 50,
        onTimeout: () => new LocalClusterError('LOCAL_CLUSTER_START', `container ${this.plan.name} (${this.#image}) did not accept connections on ${HOST}:${this.#port} after ${phase}`),
      },
    )
  }

  async #acceptsConnections(): Promise<boolean> {
    const { ready } = this.#recipe
    if ('probe' in ready) return ready.probe(HOST, this.#port)
    return (await this.#container!.exec(ready.command(this.#port))).exitCode === 0
  }

  async #exec(command: string[]): Promise<void> {
    const result = await this.#container!.exec(command)
    if (result.exitCode !== 0) {
      throw new LocalClusterError('LOCAL_CLUSTER_START', `${command.join(' ')} failed in ${this.plan.name}: ${result.output}`)
    }
  }
}

/** Docker's log stream is framed: 1 byte stream type, 3 zero bytes, a 4-byte length, then the text. */
function logText(raw: Buffer): string {
  let text = ''
  for (let at = 0; at + 8 <= raw.length; ) {
    const length = raw.readUInt32BE(at + 4)
    text += raw.subarray(at + 8, at + 8 + length).toString('utf8')
    at += 8 + length
  }
  return text
}
