import type { ConnectionObject, Dialect, ShardConfig } from '../../config/shard-config.js'
import { LocalClusterError, UnsupportedByBackendError } from '../local-cluster-errors.js'
import type { ServerInfo } from '../local-cluster.js'
import type { ResolvedLocalClusterOptions } from '../local-cluster-options.js'
import { ManagedCluster } from '../managed-cluster.js'
import type { ManagedServer } from '../managed-server.js'
import { planServers } from '../plan-servers.js'
import type { ServerPlan } from '../server-plan.js'
import { perDialect, TEST_DIALECTS } from '../test-dialects.js'

/**
 * The `env` backend: servers someone else runs, one shard per URL in
 * `SHARDTX_TEST_POSTGRES_URLS` / `SHARDTX_TEST_MYSQL_URLS` (comma-separated,
 * each naming its database). The first N URLs are used. kill, stop and
 * restart throw {@link UnsupportedByBackendError}; destroy leaves the servers alone.
 */
export function startEnvBackend(options: ResolvedLocalClusterOptions): ManagedCluster {
  if (options.databasesPerServer !== 1) {
    throw new UnsupportedByBackendError('env', 'databasesPerServer', 'list one URL per shard instead; two URLs may name two databases on one server')
  }
  const urls = perDialect((dialect) => urlsFrom(options.env, dialect, options.servers[dialect]))
  const next = perDialect(() => 0)
  const servers = planServers(options).map((plan) => new EnvServer(plan, urls[plan.dialect][next[plan.dialect]++]!))
  return new ManagedCluster('env', servers, async () => {})
}

function urlsFrom(env: Readonly<Record<string, string | undefined>>, dialect: Dialect, count: number): ConnectionObject[] {
  const { variable, urlProtocols: protocols, defaultPort } = TEST_DIALECTS[dialect].env
  const listed = (env[variable] ?? '').split(',').map((url) => url.trim()).filter((url) => url !== '')
  if (listed.length < count) {
    throw new LocalClusterError('LOCAL_CLUSTER_OPTIONS', `env backend: ${count} ${dialect} shard(s) asked for, but ${variable} lists ${listed.length} URL(s)`)
  }
  return listed.slice(0, count).map((text, index) => {
    let url: URL
    try {
      url = new URL(text)
    } catch (cause) {
      throw new LocalClusterError('LOCAL_CLUSTER_OPTIONS', `env backend: ${variable}[${index}] is not a URL`, cause)
    }
    const database = decodeURIComponent(url.pathname.replace(/^\//, ''))
    if (!protocols.includes(url.protocol) || database === '') {
      throw new LocalClusterError(
        'LOCAL_CLUSTER_OPTIONS',
        `env backend: ${variable}[${index}] must look like ${protocols[0]}//user:password@host:port/database`,
      )
    }
    return {
      host: url.hostname,
      port: url.port === '' ? defaultPort : Number(url.port),
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database,
    }
  })
}

class EnvServer implements ManagedServer {
  readonly plan: ServerPlan
  readonly shards: ShardConfig[]
  readonly #connection: ConnectionObject

  constructor(plan: ServerPlan, connection: ConnectionObject) {
    this.plan = plan
    this.#connection = connection
    this.shards = plan.shards.map(({ id }) => ({ id, dialect: plan.dialect, connection: { ...connection } }))
  }

  info(): ServerInfo {
    return {
      dialect: this.plan.dialect,
      host: this.#connection.host ?? 'localhost',
      port: this.#connection.port ?? TEST_DIALECTS[this.plan.dialect].env.defaultPort,
      pid: undefined,
      dataDir: undefined,
      containerId: undefined,
      running: true,
      shardIds: this.plan.shards.map((shard) => shard.id),
    }
  }

  kill(): Promise<void> {
    return Promise.reject(this.#unsupported('kill'))
  }

  stop(): Promise<void> {
    return Promise.reject(this.#unsupported('stop'))
  }

  restart(): Promise<void> {
    return Promise.reject(this.#unsupported('restart'))
  }

  async destroy(): Promise<void> {}

  #unsupported(operation: string): UnsupportedByBackendError {
    return new UnsupportedByBackendError('env', operation, 'its servers are only known by URL; use the local or containers backend for crash tests')
  }
}
