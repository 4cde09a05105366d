import { LocalClusterError } from '../local-cluster-errors.js'
import type { ResolvedLocalClusterOptions } from '../local-cluster-options.js'
import { ManagedCluster } from '../managed-cluster.js'
import { planServers } from '../server-plan.js'
import { ContainerServer, type ContainerRuntime } from './container-server.js'

/**
 * The `containers` backend: one testcontainers container per server, for
 * machines with a container runtime but no local database binaries.
 * testcontainers is imported here, lazily, so the other backends never load
 * it. Its Ryuk reaper removes the containers if this process dies.
 *
 * ```ts
 * const local = await startContainersBackend(resolveLocalClusterOptions({ postgres: 2, backend: 'containers' }))
 * ```
 */
export async function startContainersBackend(options: ResolvedLocalClusterOptions): Promise<ManagedCluster> {
  const runtime = await loadRuntime()
  const servers = planServers(options).map(
    (plan) => new ContainerServer(plan, { runtime, image: options.images[plan.dialect], durable: options.durable }),
  )
  const started = await Promise.allSettled(servers.map((server) => server.start()))
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  if (failed) {
    await Promise.allSettled(servers.map((server) => server.destroy()))
    throw failed.reason
  }
  return new ManagedCluster('containers', servers, async () => {})
}

async function loadRuntime(): Promise<ContainerRuntime> {
  let modules: [typeof import('testcontainers'), typeof import('@testcontainers/postgresql'), typeof import('@testcontainers/mariadb')]
  try {
    modules = await Promise.all([import('testcontainers'), import('@testcontainers/postgresql'), import('@testcontainers/mariadb')])
  } catch (cause) {
    throw new LocalClusterError(
      'LOCAL_CLUSTER_NO_CONTAINER_RUNTIME',
      'the containers backend needs the packages testcontainers, @testcontainers/postgresql and @testcontainers/mariadb (11.x)',
      cause,
    )
  }
  const [testcontainers, postgresql, mariadb] = modules
  try {
    const client = await testcontainers.getContainerRuntimeClient()
    return { client, PostgreSqlContainer: postgresql.PostgreSqlContainer, MariaDbContainer: mariadb.MariaDbContainer }
  } catch (cause) {
    throw new LocalClusterError(
      'LOCAL_CLUSTER_NO_CONTAINER_RUNTIME',
      'the containers backend found no reachable container runtime (Docker or Podman socket, DOCKER_HOST); ' +
        'start one, or use SHARDTX_TEST_BACKEND=local with PostgreSQL and MariaDB installed',
      cause,
    )
  }
}
