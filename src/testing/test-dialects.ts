import { mysqlTraits } from '../../adapters/mysql/mysql-traits.js'
import { postgresTraits } from '../../adapters/postgres/postgres-traits.js'
import type { Dialect } from '../config/shard-config.js'
import { mariadbContainer, postgresContainer, type ContainerRecipe } from './containers/container-recipes.js'
import type { LocalServerRecipe } from './local/local-server.js'
import { mariadbLocalRecipe } from './local/mariadb-server.js'
import { postgresLocalRecipe } from './local/postgres-server.js'

/**
 * What `shardtx/testing` knows of one dialect: how each backend gets a server
 * of it. Every field is a place a new dialect must fill in; the registry below
 * is a `Record<Dialect, …>`, so the compiler names a dialect left out. Only the
 * dialects' traits are read from adapters/ (plain facts): loading
 * `shardtx/testing` loads no database driver.
 */
export interface TestDialect {
  /** The server software; names each server's directory or container (`mariadb-0`). */
  readonly serverName: string
  /** Shard ids are `<prefix>-0, <prefix>-1, …`, numbered across the dialect's servers. */
  readonly shardIdPrefix: string
  /** `local` backend: how to run the installed server programs. */
  readonly local: LocalServerRecipe
  /** `containers` backend: how to run the server in a container. */
  readonly container: ContainerRecipe
  /** `containers` backend: the variable that overrides the default image, and that default. */
  readonly image: { readonly variable: string; readonly default: string }
  /**
   * `env` backend: the variable listing the servers' URLs, the URL schemes
   * they may use (the dialect's own, from its traits; the first is shown in
   * messages) and the port a URL without one means.
   */
  readonly env: { readonly variable: string; readonly urlProtocols: readonly string[]; readonly defaultPort: number }
}

export const TEST_DIALECTS: Record<Dialect, TestDialect> = {
  postgres: {
    serverName: 'postgres',
    shardIdPrefix: 'pg',
    local: postgresLocalRecipe,
    container: postgresContainer,
    image: { variable: 'SHARDTX_TEST_POSTGRES_IMAGE', default: 'postgres:16-alpine' },
    env: { variable: 'SHARDTX_TEST_POSTGRES_URLS', urlProtocols: postgresTraits.urlProtocols, defaultPort: 5432 },
  },
  mysql: {
    serverName: 'mariadb',
    shardIdPrefix: 'my',
    local: mariadbLocalRecipe,
    container: mariadbContainer,
    image: { variable: 'SHARDTX_TEST_MYSQL_IMAGE', default: 'mariadb:11.4' },
    env: { variable: 'SHARDTX_TEST_MYSQL_URLS', urlProtocols: mysqlTraits.urlProtocols, defaultPort: 3306 },
  },
}

/** The dialects in the order their servers are planned (and their options are listed). */
export const TESTED_DIALECTS = Object.keys(TEST_DIALECTS) as Dialect[]

/** One value per dialect, made by `make`. */
export function perDialect<T>(make: (dialect: Dialect) => T): Record<Dialect, T> {
  return Object.fromEntries(TESTED_DIALECTS.map((dialect) => [dialect, make(dialect)])) as Record<Dialect, T>
}
