import { expect, test } from 'vitest'
import { ImageName, type ContainerRuntimeClient } from 'testcontainers'
import { loadContainerRuntime } from '../../src/testing/containers/containers-backend.js'
import { startLocalCluster } from '../../src/testing/index.js'
import { describeBackendContract } from './backend-contract.js'

// The containers backend against a real engine, with images built on this
// machine by scripts/build-local-images.sh: nothing is ever pulled (pull:
// false, so no Ryuk either). Without a reachable engine the contract is
// skipped, with one line saying why; CI starts dockerd, so there it must run.

const images = {
  postgres: process.env.SHARDTX_TEST_POSTGRES_IMAGE || 'shardtx-local/postgres',
  mysql: process.env.SHARDTX_TEST_MYSQL_IMAGE || 'shardtx-local/mariadb',
}

const engine = await loadContainerRuntime().then(
  ({ client }) => ({ client, why: undefined }),
  (error: Error & { cause?: unknown }) => ({ client: undefined, why: `${error.message}: ${String(error.cause)}` }),
)
if (!engine.client && process.env.CI === 'true') {
  throw new Error(`CI must run the containers backend tests, but no container engine is reachable: ${engine.why}`)
}

if (engine.client) {
  const client: ContainerRuntimeClient = engine.client
  const inspect = (containerId: string | undefined) => client.container.getById(containerId!).inspect()

  describeBackendContract('containers', { backend: 'containers', images, pull: false }, {
    async expectKilled(before) {
      const { State, HostConfig } = await inspect(before.containerId)
      expect(HostConfig.NetworkMode).toBe('host')
      // 137 = 128 + 9: the server, the container's main process, died of SIGKILL.
      expect({ running: State.Running, exitCode: State.ExitCode }).toEqual({ running: false, exitCode: 137 })
    },
    async expectRestarted(before, after) {
      expect(after.containerId).toBe(before.containerId)
      expect((await inspect(after.containerId)).State.Running).toBe(true)
    },
    async expectRemoved(servers) {
      for (const server of servers) {
        await expect(inspect(server.containerId)).rejects.toMatchObject({ statusCode: 404 })
      }
    },
  })

  test('an image that is not on the engine fails the start instead of being pulled', async () => {
    const absent = 'shardtx-local/absent:0'
    const error = await startLocalCluster({ postgres: 1, backend: 'containers', images: { postgres: absent }, pull: false }).then(
      () => expect.unreachable('the start should have failed'),
      (error: unknown) => error,
    )
    expect(error).toMatchObject({ code: 'LOCAL_CLUSTER_IMAGE_MISSING', message: expect.stringContaining(`image ${absent} is not on the container engine`) })
    expect(await client.image.exists(ImageName.fromString(absent))).toBe(false)
  })
} else {
  test.skip(`containers backend: no container engine reachable (${engine.why})`, () => {})

  test('the containers backend says so when no container runtime is reachable', async () => {
    const error = await startLocalCluster({ postgres: 1, backend: 'containers', env: {} }).catch((error: unknown) => error)
    expect(error).toMatchObject({ code: 'LOCAL_CLUSTER_NO_CONTAINER_RUNTIME', message: expect.stringMatching(/no reachable container runtime/) })
  })
}
