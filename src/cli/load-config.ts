import { existsSync, readFileSync } from 'node:fs'
import { extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { CliUsageError } from './cli-errors.js'

/**
 * Looked for in the working directory, in this order, when `--config` is not given.
 *
 * ```ts
 * DEFAULT_CONFIG_FILES[0] // 'shardtx.config.js'
 * ```
 */
export const DEFAULT_CONFIG_FILES = ['shardtx.config.js', 'shardtx.config.mjs', 'shardtx.config.cjs', 'shardtx.config.json']

const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']

/**
 * A config file and the `createCluster` options it holds, not yet validated.
 *
 * ```ts
 * const loaded: LoadedConfig = { path: '/app/shardtx.config.json', options: { shards: [] } }
 * ```
 */
export interface LoadedConfig {
  path: string
  options: unknown
}

/**
 * Finds and reads the CLI's config: the `createCluster` options as JSON, or a
 * JavaScript module whose default export is the options object or a function
 * (sync or async) returning it. Any problem is a {@link CliUsageError} (exit 2).
 *
 * ```ts
 * const { path, options } = await loadConfig(undefined, process.cwd())
 * ```
 */
export async function loadConfig(given: string | undefined, cwd: string): Promise<LoadedConfig> {
  const path = given === undefined ? findDefault(cwd) : resolve(cwd, given)
  if (!existsSync(path)) throw new CliUsageError(`config file not found: ${path}`)
  const extension = extname(path)
  if (extension === '.json') return { path, options: readJson(path) }
  if (!MODULE_EXTENSIONS.includes(extension)) {
    throw new CliUsageError(`config file must be .js, .mjs, .cjs or .json, not ${extension || 'extensionless'}: ${path}`)
  }
  let module: { default?: unknown }
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown }
  } catch (error) {
    const typescript = (error as { code?: unknown }).code === 'ERR_UNKNOWN_FILE_EXTENSION'
    const reason = typescript
      ? 'this Node cannot import TypeScript; use a .js/.mjs/.json config or run the CLI under tsx'
      : error instanceof Error
        ? error.message
        : String(error)
    throw new CliUsageError(`cannot load config ${path}: ${reason}`, error)
  }
  if (module.default === undefined) throw new CliUsageError(`config ${path} has no default export (export default { shards: [...] })`)
  let options: unknown = module.default
  if (typeof options === 'function') {
    try {
      options = await (options as () => unknown)()
    } catch (error) {
      throw new CliUsageError(`config ${path}: its default function failed: ${error instanceof Error ? error.message : String(error)}`, error)
    }
  }
  return { path, options }
}

function findDefault(cwd: string): string {
  const found = DEFAULT_CONFIG_FILES.map((name) => join(cwd, name)).find((path) => existsSync(path))
  if (found === undefined) {
    throw new CliUsageError(`no config file: pass --config <file>, or create one of ${DEFAULT_CONFIG_FILES.join(', ')} in ${cwd}`)
  }
  return found
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown
  } catch (error) {
    // V8 quotes the text around the mistake, and that text may hold a password: keep only the position.
    const reason = error instanceof Error ? error.message.replace(/, ".*" is not valid JSON$/s, '') : String(error)
    throw new CliUsageError(`config ${path} is not valid JSON: ${reason}`)
  }
}
