import { spawnSync } from 'node:child_process'
import { LocalClusterError } from '../local-cluster-errors.js'
import type { ResolvedLocalClusterOptions } from '../local-cluster-options.js'
import { ManagedCluster } from '../managed-cluster.js'
import { planServers } from '../plan-servers.js'
import { TEST_DIALECTS } from '../test-dialects.js'
import { onProcessExit } from '../local/exit-cleanup.js'
import { ContainerServer, type ContainerRuntime } from './container-server.js'

/**
 * The `containers` backend: one testcontainers container per server, on the
 * host's network, for machines with a container runtime but no local
 * database binaries. testcontainers is imported here, lazily, so the other
 * backends never load it. With `pull: true` its Ryuk reaper removes the
 * containers if this process dies; with `pull: false` Ryuk (an image to pull)
 * never starts, and a missing image is an error, not a download.
 */
export async function startContainersBackend(options: ResolvedLocalClusterOptions): Promise<ManagedCluster> {
  const runtime = await loadContainerRuntime()
  const servers = planServers(options).map(
    (plan) =>
      new ContainerServer(plan, {
        runtime,
        recipe: TEST_DIALECTS[plan.dialect].container,
        image: options.images[plan.dialect],
        durable: options.durable,
        pull: options.pull,
      }),
  )
  const unregister = onProcessExit(() => removeContainersSync(servers))
  const started = await Promise.allSettled(servers.map((server) => server.start()))
  const failed = started.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  if (failed) {
    await Promise.allSettled(servers.map((server) => server.destroy()))
    unregister()
    throw failed.reason
  }
  return new ManagedCluster('containers', servers, async () => unregister())
}

/**
 * At exit or SIGINT/SIGTERM/SIGHUP without destroy() (vitest ends its
 * workers with SIGTERM), and with no Ryuk to reap them, the containers are
 * removed through the docker CLI when there is one: nothing async runs at exit.
 */
function removeContainersSync(servers: readonly ContainerServer[]): void {
  const ids = servers.map((server) => server.containerId).filter((id) => id !== undefined)
  if (ids.length > 0) spawnSync('docker', ['rm', '--force', '--volumes', ...ids], { stdio: 'ignore', timeout: 20_000 })
}

/**
 * Loads testcontainers and connects to the container engine; a
 * `LOCAL_CLUSTER_NO_CONTAINER_RUNTIME` error when either is missing.
 */
export async function loadContainerRuntime(): Promise<ContainerRuntime> {
  // Containers run on the host's network, so the servers are on this
  // machine's 127.0.0.1, and the engine must run here too. Left to itself,
  // testcontainers inside a container would look for a bridge gateway
  // instead, and lacking one run an alpine container to find it: a pull.
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= '127.0.0.1'
  let testcontainers: typeof import('testcontainers')
  try {
    testcontainers = await import('testcontainers')
  } catch (cause) {
    throw new LocalClusterError('LOCAL_CLUSTER_NO_CONTAINER_RUNTIME', 'the containers backend needs the package testcontainers (11.x)', cause)
  }
  try {
    const client = await testcontainers.getContainerRuntimeClient()
    return { client, GenericContainer: testcontainers.GenericContainer, ImageName: testcontainers.ImageName }
  } catch (cause) {
    throw new LocalClusterError(
      'LOCAL_CLUSTER_NO_CONTAINER_RUNTIME',
      'the containers backend found no reachable container runtime (Docker or Podman socket, DOCKER_HOST); ' +
        'start one, or use SHARDTX_TEST_BACKEND=local with PostgreSQL and MariaDB installed',
      cause,
    )
  }
}
