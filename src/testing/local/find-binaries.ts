import { accessSync, constants, readdirSync, realpathSync, statSync } from 'node:fs'
import { delimiter, dirname, join } from 'node:path'
import { MissingServerBinaryError } from '../local-cluster-errors.js'

/**
 * The PostgreSQL programs the `local` backend runs.
 */
export interface PostgresBinaries {
  initdb: string
  postgres: string
  psql: string
}

/**
 * The MariaDB programs the `local` backend runs.
 */
export interface MariadbBinaries {
  installDb: string
  server: string
}

/**
 * Finds initdb, postgres and psql on `PATH`, then in Debian's versioned
 * `/usr/lib/postgresql/<major>/bin` (newest first), or only in `searchPath` when given.
 */
export function findPostgresBinaries(searchPath?: readonly string[]): PostgresBinaries {
  const dirs = searchPath ?? [...pathDirs(), ...debianPostgresDirs(), '/usr/local/pgsql/bin']
  const postgres = realpathSync(findIn(dirs, ['postgres'], 'postgresql'))
  // Take initdb and psql from the directory postgres really lives in, so a
  // PATH symlink to one major version never pairs with another version's initdb,
  // and psql is the real binary rather than Debian's perl wrapper.
  const home = [dirname(postgres), ...dirs]
  return { postgres, initdb: findIn(home, ['initdb'], 'postgresql'), psql: findIn(home, ['psql'], 'postgresql-client') }
}

/**
 * Finds mariadbd (or mysqld) and mariadb-install-db (or mysql_install_db) on
 * `PATH` and in `/usr/sbin`, `/usr/bin`, or only in `searchPath` when given.
 */
export function findMariadbBinaries(searchPath?: readonly string[]): MariadbBinaries {
  const dirs = searchPath ?? [...pathDirs(), '/usr/sbin', '/usr/bin', '/usr/local/mysql/bin']
  return {
    server: findIn(dirs, ['mariadbd', 'mysqld'], 'mariadb-server'),
    installDb: findIn(dirs, ['mariadb-install-db', 'mysql_install_db'], 'mariadb-server'),
  }
}

function findIn(dirs: readonly string[], names: readonly string[], packageName: string): string {
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name)
      if (isExecutable(candidate)) return candidate
    }
  }
  throw new MissingServerBinaryError(names.join(' or '), packageName, [...new Set(dirs)])
}

function pathDirs(): string[] {
  return (process.env.PATH ?? '').split(delimiter).filter((dir) => dir !== '')
}

function debianPostgresDirs(): string[] {
  try {
    return readdirSync('/usr/lib/postgresql')
      .filter((version) => /^\d+$/.test(version))
      .sort((a, b) => Number(b) - Number(a))
      .map((version) => `/usr/lib/postgresql/${version}/bin`)
  } catch {
    return []
  }
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}
