import { LocalClusterError } from './local-cluster-errors.js'

/**
 * Where the servers of a test cluster come from.
 *
 * ```ts
 * const backend: LocalClusterBackend = process.env.CI ? 'local' : 'containers'
 * ```
 */
export type LocalClusterBackend = 'local' | 'containers' | 'env'

const BACKENDS: readonly LocalClusterBackend[] = ['local', 'containers', 'env']

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
  /** `local` backend: extra command-line arguments for each server. */
  serverArgs?: { postgres?: readonly string[]; mysql?: readonly string[] }
  /**
   * `containers` backend: images. Default: `SHARDTX_TEST_POSTGRES_IMAGE` /
   * `SHARDTX_TEST_MYSQL_IMAGE`, else the official `postgres:16-alpine` and
   * `mariadb:11.4`. Any image that takes the official images' variables
   * (`POSTGRES_PASSWORD`, `MARIADB_ROOT_PASSWORD`) and server arguments as its
   * command will do, such as the `shardtx-local/*` images that the
   * repository's `scripts/build-local-images.sh` builds with no pull.
   */
  images?: { postgres?: string; mysql?: string }
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
 * {@link LocalClusterOptions} with defaults applied and every value checked.
 *
 * ```ts
 * const { backend, durable } = resolveLocalClusterOptions({ postgres: 1 }) // 'local', true
 * ```
 */
export interface ResolvedLocalClusterOptions {
  postgres: number
  mysql: number
  databasesPerServer: number
  durable: boolean
  backend: LocalClusterBackend
  searchPath: readonly string[] | undefined
  serverArgs: { postgres: readonly string[]; mysql: readonly string[] }
  images: { postgres: string; mysql: string }
  faults: boolean
  pull: boolean
  env: Readonly<Record<string, string | undefined>>
}

const KNOWN_KEYS = new Set<string>([
  'postgres', 'mysql', 'databasesPerServer', 'durable', 'backend', 'searchPath', 'serverArgs', 'images', 'faults', 'pull', 'env',
])

/**
 * Applies defaults and rejects anything that is not a valid option, so a typo
 * fails loudly instead of starting the wrong cluster.
 *
 * ```ts
 * resolveLocalClusterOptions({ postgres: 1, mysqll: 1 } as never) // throws: unknown option "mysqll"
 * ```
 */
export function resolveLocalClusterOptions(options: LocalClusterOptions): ResolvedLocalClusterOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid('options', 'must be an object like { postgres: 2, mysql: 2 }')
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN_KEYS.has(key)) throw invalid(key, `unknown option; known: ${[...KNOWN_KEYS].join(', ')}`)
  }
  const env = options.env ?? process.env
  const postgres = count('postgres', options.postgres ?? 0, 0)
  const mysql = count('mysql', options.mysql ?? 0, 0)
  if (postgres + mysql === 0) throw invalid('postgres/mysql', 'ask for at least one server, e.g. { postgres: 1 }')
  const backend = options.backend ?? backendFromEnv(env)
  if (!BACKENDS.includes(backend)) throw invalid('backend', `unknown backend "${String(backend)}"; use ${BACKENDS.join(', ')}`)
  for (const flag of ['durable', 'faults', 'pull'] as const) {
    if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw invalid(flag, 'must be a boolean')
  }
  return {
    postgres,
    mysql,
    databasesPerServer: count('databasesPerServer', options.databasesPerServer ?? 1, 1),
    durable: options.durable ?? true,
    backend,
    searchPath: options.searchPath === undefined ? undefined : strings('searchPath', options.searchPath),
    serverArgs: {
      postgres: strings('serverArgs.postgres', options.serverArgs?.postgres ?? []),
      mysql: strings('serverArgs.mysql', options.serverArgs?.mysql ?? []),
    },
    images: {
      postgres: options.images?.postgres ?? nonEmpty(env.SHARDTX_TEST_POSTGRES_IMAGE) ?? 'postgres:16-alpine',
      mysql: options.images?.mysql ?? nonEmpty(env.SHARDTX_TEST_MYSQL_IMAGE) ?? 'mariadb:11.4',
    },
    faults: options.faults ?? false,
    pull: options.pull ?? env.SHARDTX_TEST_PULL?.trim() !== 'never',
    env,
  }
}

function backendFromEnv(env: Readonly<Record<string, string | undefined>>): LocalClusterBackend {
  const value = env.SHARDTX_TEST_BACKEND?.trim()
  if (value === undefined || value === '') return 'local'
  if (!(BACKENDS as readonly string[]).includes(value)) {
    throw invalid('SHARDTX_TEST_BACKEND', `unknown backend "${value}"; use ${BACKENDS.join(', ')}`)
  }
  return value as LocalClusterBackend
}

function nonEmpty(value: string | undefined): string | undefined {
  return value?.trim() || undefined
}

function count(field: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalid(field, `must be an integer ≥ ${min}, got ${typeof value === 'number' ? value : JSON.stringify(value)}`)
  }
  return value
}

function strings(field: string, value: unknown): readonly string[] {
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw invalid(field, 'must be an array of strings')
  }
  return value
}

function invalid(field: string, problem: string): LocalClusterError {
  return new LocalClusterError('LOCAL_CLUSTER_OPTIONS', `startLocalCluster: ${field}: ${problem}`)
}
