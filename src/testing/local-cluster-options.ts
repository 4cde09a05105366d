import type { Dialect } from '../config/shard-config.js'
import { ConfigError } from '../errors.js'
import { booleanOption, plainObject, rejectUnknownKeys, requiredIntegerAtLeast, stringArray } from '../config/validate.js'
import { BACKENDS, type LocalClusterBackend } from './local-cluster-backend.js'
import { LocalClusterError } from './local-cluster-errors.js'
import { perDialect, TEST_DIALECTS, TESTED_DIALECTS } from './test-dialects.js'

export type { LocalClusterBackend } from './local-cluster-backend.js'

/**
 * What {@link startLocalCluster} should start.
 *
 * ```ts
 * const options: LocalClusterOptions = { postgres: 2, mysql: 2, durable: false }
 * ```
 */
export interface LocalClusterOptions {
  /** Number of PostgreSQL servers (default 0). */
  postgres?: number
  /** Number of MariaDB servers, the MySQL-protocol dialect (default 0). */
  mysql?: number
  /**
   * Shards per server (default 1). With 2, server 0 holds databases
   * `shardtx_0` and `shardtx_1` as two shards; killing one kills both.
   */
  databasesPerServer?: number
  /**
   * `true` (default): the servers' own durable defaults (fsync on).
   * `false`: no fsync, for speed (PostgreSQL `fsync=off`, `full_page_writes=off`;
   * MariaDB `innodb_flush_log_at_trx_commit=2`, `sync_binlog=0`, `innodb_doublewrite=0`).
   * Data committed or prepared before a SIGKILL of the server still survives
   * it, because each commit is still written to the OS page cache, which
   * outlives the process; only an OS crash would lose it. That is why
   * PostgreSQL keeps `synchronous_commit=on` and MariaDB uses 2 rather than 0:
   * both alternatives keep recent commits in server memory, and a kill lost them.
   */
  durable?: boolean
  /** Default: `SHARDTX_TEST_BACKEND`, else `'local'`. */
  backend?: LocalClusterBackend
  /**
   * `local` backend: directories to look for the server programs in, instead
   * of `PATH` and the usual Debian locations.
   */
  searchPath?: readonly string[]
  /** `local` backend: extra command-line arguments for each server, by dialect. */
  serverArgs?: { readonly [D in Dialect]?: readonly string[] }
  /**
   * `containers` backend: images. Default: `SHARDTX_TEST_POSTGRES_IMAGE` /
   * `SHARDTX_TEST_MYSQL_IMAGE`, else the official `postgres:16-alpine` and
   * `mariadb:11.4`. Any image that takes the official images' variables
   * (`POSTGRES_PASSWORD`, `MARIADB_ROOT_PASSWORD`) and server arguments as its
   * command will do, such as the `shardtx-local/*` images that the
   * repository's `scripts/build-local-images.sh` builds with no pull.
   */
  images?: { readonly [D in Dialect]?: string }
  /**
   * `true`: put a TCP proxy on 127.0.0.1 in front of every shard, so that
   * `partition`, `heal` and `delay` can break or slow its path; `shards` then
   * point at the proxies (default false).
   */
  faults?: boolean
  /**
   * `containers` backend: whether missing images may be pulled. Default:
   * `false` when `SHARDTX_TEST_PULL` is `never`, else `true`. With `false` a
   * missing image fails the start with `LOCAL_CLUSTER_IMAGE_MISSING`, and
   * testcontainers' Ryuk reaper (an image of its own) is not used.
   */
  pull?: boolean
  /** Environment read for `SHARDTX_TEST_*` variables (default `process.env`). */
  env?: Readonly<Record<string, string | undefined>>
}

/**
 * {@link LocalClusterOptions} with defaults applied and every value checked,
 * each per-dialect value keyed by dialect.
 */
export interface ResolvedLocalClusterOptions {
  /** How many servers of each dialect. */
  servers: Record<Dialect, number>
  databasesPerServer: number
  durable: boolean
  backend: LocalClusterBackend
  searchPath: readonly string[] | undefined
  serverArgs: Record<Dialect, readonly string[]>
  images: Record<Dialect, string>
  faults: boolean
  pull: boolean
  env: Readonly<Record<string, string | undefined>>
}

/**
 * The server counts are options named after the dialects (`postgres`, `mysql`).
 * Naming them in `LocalClusterOptions` by hand keeps their docs; this line
 * fails to compile when a dialect has no count there.
 */
type ServerCounts = Required<Pick<LocalClusterOptions, Dialect>>

const KNOWN_KEYS = [...TESTED_DIALECTS, 'databasesPerServer', 'durable', 'backend', 'searchPath', 'serverArgs', 'images', 'faults', 'pull', 'env']

/**
 * Applies defaults and rejects anything that is not a valid option, so a typo
 * fails loudly instead of starting the wrong cluster.
 */
export function resolveLocalClusterOptions(options: LocalClusterOptions): ResolvedLocalClusterOptions {
  try {
    return resolve(options)
  } catch (error) {
    // The shared checks speak ConfigError; startLocalCluster's callers get its own error type.
    if (error instanceof ConfigError) throw new LocalClusterError('LOCAL_CLUSTER_OPTIONS', `startLocalCluster: ${error.message}`, error)
    throw error
  }
}

function resolve(input: LocalClusterOptions): ResolvedLocalClusterOptions {
  const options = plainObject('options', input, '{ postgres: 2, mysql: 2 }') as LocalClusterOptions
  rejectUnknownKeys('options', options, KNOWN_KEYS)
  const env = options.env ?? process.env
  const counts: ServerCounts = perDialect((dialect) => requiredIntegerAtLeast(dialect, options[dialect] ?? 0, 0))
  if (TESTED_DIALECTS.every((dialect) => counts[dialect] === 0)) {
    throw new ConfigError(TESTED_DIALECTS.join('/'), 'ask for at least one server, e.g. { postgres: 1 }')
  }
  const backend = options.backend ?? backendFromEnv(env)
  if (!BACKENDS.includes(backend)) throw new ConfigError('backend', `unknown backend "${String(backend)}"; use ${BACKENDS.join(', ')}`)
  return {
    servers: counts,
    databasesPerServer: requiredIntegerAtLeast('databasesPerServer', options.databasesPerServer ?? 1, 1),
    durable: booleanOption('durable', options.durable) ?? true,
    backend,
    searchPath: options.searchPath === undefined ? undefined : stringArray('searchPath', options.searchPath),
    serverArgs: perDialect((dialect) => stringArray(`serverArgs.${dialect}`, options.serverArgs?.[dialect] ?? [])),
    images: perDialect((dialect) => {
      const { variable, default: image } = TEST_DIALECTS[dialect].image
      return options.images?.[dialect] ?? nonEmpty(env[variable]) ?? image
    }),
    faults: booleanOption('faults', options.faults) ?? false,
    pull: booleanOption('pull', options.pull) ?? env.SHARDTX_TEST_PULL?.trim() !== 'never',
    env,
  }
}

function backendFromEnv(env: Readonly<Record<string, string | undefined>>): LocalClusterBackend {
  const value = env.SHARDTX_TEST_BACKEND?.trim()
  if (value === undefined || value === '') return 'local'
  if (!(BACKENDS as readonly string[]).includes(value)) {
    throw new ConfigError('SHARDTX_TEST_BACKEND', `unknown backend "${value}"; use ${BACKENDS.join(', ')}`)
  }
  return value as LocalClusterBackend
}

function nonEmpty(value: string | undefined): string | undefined {
  return value?.trim() || undefined
}
