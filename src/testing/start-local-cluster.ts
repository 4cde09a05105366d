import { startEnvBackend } from './env/env-backend.js'
import type { LocalCluster } from './local-cluster.js'
import { resolveLocalClusterOptions, type LocalClusterOptions, type ResolvedLocalClusterOptions } from './local-cluster-options.js'
import type { ManagedCluster } from './managed-cluster.js'
import { startLocalBackend } from './local/local-backend.js'

/**
 * Starts throwaway database servers and returns shard configs pointing at
 * them: `postgres` PostgreSQL servers (shards `pg-0, …`) and `mysql` MariaDB
 * servers (shards `my-0, …`), each with a database made for the shard.
 *
 * The backend comes from `options.backend`, else `SHARDTX_TEST_BACKEND`, else `local`:
 * - `local` runs the installed `postgres` and `mariadbd` (Debian packages
 *   `postgresql`, `mariadb-server`) in a fresh `shardtx-*` dir under the OS temp
 *   dir, on free 127.0.0.1 ports. Servers are killed and the dir removed on
 *   `destroy()` and, failing that, when this process exits or gets SIGINT/SIGTERM/SIGHUP.
 * - `containers` runs them with testcontainers (needs a Docker-compatible engine on
 *   this machine), each container on the host's network, listening on 127.0.0.1;
 *   `images` and `pull` say which images and whether a missing one may be pulled.
 * - `env` uses servers listed in `SHARDTX_TEST_POSTGRES_URLS` / `SHARDTX_TEST_MYSQL_URLS`;
 *   it cannot kill or restart them.
 *
 * PostgreSQL gets `max_prepared_transactions=100` and `max_connections=300`,
 * MariaDB `max_connections=500`. With `durable: false` fsync is off, yet data
 * committed or prepared before a SIGKILL of the server survives it.
 *
 * With `faults: true` every shard is reached through a TCP proxy on 127.0.0.1
 * that `local.partition`, `local.heal` and `local.delay` control.
 *
 * ```ts
 * import { startLocalCluster } from 'shardtx/testing'
 *
 * const local = await startLocalCluster({ postgres: 2, mysql: 2, durable: false })
 * try {
 *   const cluster = createCluster({ shards: local.shards })
 *   await local.kill('my-0')
 *   await local.restart('my-0')
 * } finally {
 *   await local.destroy()
 * }
 * ```
 */
export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const resolved = resolveLocalClusterOptions(options)
  const cluster = await startBackend(resolved)
  if (resolved.faults) {
    try {
      await cluster.routeThroughFaultProxies()
    } catch (error) {
      await cluster.destroy()
      throw error
    }
  }
  return cluster
}

async function startBackend(resolved: ResolvedLocalClusterOptions): Promise<ManagedCluster> {
  switch (resolved.backend) {
    case 'local':
      return startLocalBackend(resolved)
    case 'env':
      return startEnvBackend(resolved)
    case 'containers': {
      // Loaded on demand so that the local and env paths never load testcontainers.
      const { startContainersBackend } = await import('./containers/containers-backend.js')
      return startContainersBackend(resolved)
    }
  }
}
