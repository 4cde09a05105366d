import { chownSync, mkdtempSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ResolvedLocalClusterOptions } from '../local-cluster-options.js'
import { ManagedCluster } from '../managed-cluster.js'
import { planServers } from '../plan-servers.js'
import { perDialect, TEST_DIALECTS, TESTED_DIALECTS } from '../test-dialects.js'
import { onProcessExit } from './exit-cleanup.js'
import { findFreePorts } from './free-ports.js'
import type { LocalServer, LocalServerMaker } from './local-server.js'
import { assertReachable } from './run-as.js'

const PORT_ATTEMPTS = 3

/**
 * The `local` backend: PostgreSQL and MariaDB servers run from the installed
 * binaries, each in a directory under one `shardtx-*` temp dir, all started
 * in parallel. Everything is killed and removed on destroy or process exit.
 */
export async function startLocalBackend(options: ResolvedLocalClusterOptions): Promise<ManagedCluster> {
  // Look everything up before touching the disk, so a missing package fails fast and clean.
  const makers = perDialect((dialect) => (options.servers[dialect] > 0 ? TEST_DIALECTS[dialect].local.prepare(options.searchPath) : undefined))
  // Only PostgreSQL runs as another OS user (under root); the temp dir is handed to it.
  const runAs = TESTED_DIALECTS.map((dialect) => makers[dialect]?.runAs).find((identity) => identity !== undefined)

  const root = mkdtempSync(join(tmpdir(), 'shardtx-'))
  try {
    assertReachable(root, runAs)
  } catch (error) {
    rmSync(root, { recursive: true, force: true })
    throw error
  }
  // The postgres user must reach its data directories inside our 0700 dir.
  if (runAs) chownSync(root, runAs.uid, runAs.gid)
  const servers: LocalServer[] = planServers(options).map((plan) => {
    const dir = join(root, plan.name)
    const maker = makers[plan.dialect] as LocalServerMaker // planned servers are of dialects asked for
    return maker.create(plan, { dir, durable: options.durable, extraArgs: options.serverArgs[plan.dialect] })
  })
  const unregister = onProcessExit(() => {
    for (const server of servers) server.killSync()
    rmSync(root, { recursive: true, force: true, maxRetries: 5 })
  })
  const release = async (): Promise<void> => {
    unregister()
    await rm(root, { recursive: true, force: true, maxRetries: 5 })
  }

  try {
    const ports = await findFreePorts(servers.length)
    await settleAll(
      byDialect(servers).map(async ([template, ...copies]) => {
        // initdb / mariadb-install-db runs once per dialect; the other servers
        // copy its result before anything starts writing to it.
        await template!.init()
        await settleAll(copies.map((server) => server.initFrom(template!)))
        await settleAll([template!, ...copies].map((server) => startServer(server, ports[servers.indexOf(server)]!)))
      }),
    )
  } catch (error) {
    await Promise.allSettled(servers.map((server) => server.destroy()))
    await release()
    throw error
  }
  return new ManagedCluster('local', servers, release)
}

/** Like Promise.all, but waits for every promise, so nothing is still starting when the caller cleans up. */
async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const results = await Promise.allSettled(promises)
  const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  if (failed) throw failed.reason
}

function byDialect(servers: readonly LocalServer[]): LocalServer[][] {
  const groups = new Map<string, LocalServer[]>()
  for (const server of servers) groups.set(server.plan.dialect, [...(groups.get(server.plan.dialect) ?? []), server])
  return [...groups.values()]
}

async function startServer(server: LocalServer, port: number): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    server.port = port
    try {
      await server.start()
      break
    } catch (error) {
      // Another process may bind a port between our probe and the server's bind.
      if (attempt >= PORT_ATTEMPTS || !server.portWasBusy()) throw error
      ;[port] = (await findFreePorts(1)) as [number]
    }
  }
  await server.createDatabases()
}
