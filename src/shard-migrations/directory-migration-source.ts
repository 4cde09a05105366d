import { readdirSync } from 'node:fs'
import { extname, join } from 'node:path'
import { pathToFileURL } from 'node:url'
import type { Knex } from 'knex'
import { ConfigError } from '../errors.js'
import { MigrationLoadError } from './shard-migration-errors.js'

/**
 * One migration file; its name (file name with extension, as knex records it) is its identity.
 */
export interface MigrationFile {
  name: string
  path: string
}

/**
 * knex migrations read from one folder and loaded with `import()` from here.
 *
 * Why not knex's own `directory` loader: knex imports the files from inside
 * node_modules, where a test runner's or tsx's TypeScript support may not reach;
 * importing from this module lets `.ts` migrations load wherever shardtx's own
 * TypeScript does. Names are the file names with extension, exactly as knex's
 * loader records them, so shards migrated with knex's CLI stay compatible.
 */
export class DirectoryMigrationSource implements Knex.MigrationSource<MigrationFile> {
  readonly directory: string
  readonly #extensions: readonly string[]
  readonly #loaded = new Map<string, Promise<Knex.Migration>>()

  constructor(directory: string, extensions: readonly string[]) {
    this.directory = directory
    this.#extensions = extensions
  }

  /** The migration files in the order they run: by file name, like knex. */
  async getMigrations(): Promise<MigrationFile[]> {
    return this.list()
  }

  list(): MigrationFile[] {
    const names = readdirSync(this.directory)
      // A compiled folder holds `x.d.ts` next to `x.js`; declarations are not migrations.
      .filter((name) => this.#extensions.includes(extname(name)) && !/\.d\.[cm]?ts$/.test(name))
      .sort()
    const stems = new Map<string, string>()
    for (const name of names) {
      const stem = name.slice(0, -extname(name).length)
      const other = stems.get(stem)
      if (other !== undefined) {
        // Both would run and be recorded under different names: one of them is a build leftover.
        throw new ConfigError('directory', `both ${other} and ${name} are in ${this.directory}; keep one, or narrow loadExtensions`)
      }
      stems.set(stem, name)
    }
    return names.map((name) => ({ name, path: join(this.directory, name) }))
  }

  getMigrationName(migration: MigrationFile): string {
    return migration.name
  }

  getMigration(migration: MigrationFile): Promise<Knex.Migration> {
    let loaded = this.#loaded.get(migration.path)
    if (loaded === undefined) {
      loaded = load(migration)
      this.#loaded.set(migration.path, loaded)
    }
    return loaded
  }
}

async function load(migration: MigrationFile): Promise<Knex.Migration> {
  let module: Record<string, unknown>
  try {
    module = (await import(pathToFileURL(migration.path).href)) as Record<string, unknown>
  } catch (error) {
    const code = (error as { code?: unknown }).code
    const hint =
      code === 'ERR_UNKNOWN_FILE_EXTENSION'
        ? 'this Node cannot import TypeScript by itself: run under tsx (`node --import tsx`), or compile the migrations to .js'
        : error instanceof Error
          ? error.message
          : String(error)
    throw new MigrationLoadError(migration.name, hint, error)
  }
  // `export function up` gives named exports; `module.exports = { up, down }` arrives as `default`.
  const exported = typeof module.up === 'function' ? module : (module.default as Record<string, unknown> | undefined)
  if (typeof exported?.up !== 'function' || typeof exported.down !== 'function') {
    throw new MigrationLoadError(migration.name, 'must export an `up` and a `down` function')
  }
  return {
    up: exported.up as Knex.Migration['up'],
    down: exported.down as Knex.Migration['down'],
    // knex reads `config.transaction` (false: run this migration outside a transaction).
    ...(exported.config === undefined ? {} : { config: exported.config }),
  } as Knex.Migration
}
