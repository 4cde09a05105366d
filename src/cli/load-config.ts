import { existsSync, readFileSync, statSync } from 'node:fs'
import { extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { CliUsageError } from './cli-errors.js'
import { jsonErrorPosition } from './json-error-position.js'

/**
 * Looked for in the working directory, in this order, when `--config` is not given.
 */
export const DEFAULT_CONFIG_FILES = ['shardtx.config.js', 'shardtx.config.mjs', 'shardtx.config.cjs', 'shardtx.config.json']

const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs', '.ts', '.mts', '.cts']

/**
 * A config file and the `createCluster` options it holds, not yet validated.
 */
export interface LoadedConfig {
  path: string
  options: unknown
}

/**
 * Finds and reads the CLI's config: the `createCluster` options as JSON, or a
 * JavaScript module whose default export is the options object or a function
 * (sync or async) returning it. Any problem is a {@link CliUsageError} (exit 2).
 */
export async function loadConfig(given: string | undefined, cwd: string): Promise<LoadedConfig> {
  const path = given === undefined ? findDefault(cwd) : resolve(cwd, given)
  if (!existsSync(path)) throw new CliUsageError(`config file not found: ${path}`)
  if (!statSync(path).isFile()) throw new CliUsageError(`config is not a file: ${path}`)
  const extension = extname(path)
  if (extension === '.json') return { path, options: readJson(path) }
  if (!MODULE_EXTENSIONS.includes(extension)) {
    throw new CliUsageError(`config file must be .js, .mjs, .cjs or .json, not ${extension || 'extensionless'}: ${path}`)
  }
  let module: { default?: unknown }
  try {
    module = (await import(pathToFileURL(path).href)) as { default?: unknown }
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ERR_UNKNOWN_FILE_EXTENSION') {
      throw new CliUsageError(`cannot load config ${path}: this Node cannot import TypeScript; use a .js/.mjs/.json config or run the CLI under tsx`)
    }
    throw new CliUsageError(`cannot load config ${path}: ${failureWithoutText(error, path)}`)
  }
  if (module.default === undefined) throw new CliUsageError(`config ${path} has no default export (export default { shards: [...] })`)
  let options: unknown = module.default
  if (typeof options === 'function') {
    try {
      options = await settledWithin((options as () => unknown)(), path)
    } catch (error) {
      if (error instanceof CliUsageError) throw error
      throw new CliUsageError(`config ${path}: its default function failed: ${failureWithoutText(error, path)}`)
    }
  }
  return { path, options }
}

/** How long a config's default function may take to give the options (it may fetch secrets). */
const CONFIG_FUNCTION_MS = 60_000

/**
 * `value` once it settles, or a CliUsageError: when nothing it could be waiting for is
 * left (Node would exit with code 13 and say nothing), or after {@link CONFIG_FUNCTION_MS}.
 */
async function settledWithin(value: unknown, path: string): Promise<unknown> {
  if (!(value instanceof Promise)) return value
  let onBeforeExit: (() => void) | undefined
  let timer: NodeJS.Timeout | undefined
  const stuck = new Promise<never>((_, reject) => {
    onBeforeExit = () => reject(new CliUsageError(`config ${path}: its default function returned a promise that can never settle (nothing it waits for is pending)`))
    process.once('beforeExit', onBeforeExit)
    // Unref'd: a promise waiting on nothing ends at beforeExit, at once, not after the bound.
    timer = setTimeout(() => reject(new CliUsageError(`config ${path}: its default function did not give the options within ${CONFIG_FUNCTION_MS / 1000} s`)), CONFIG_FUNCTION_MS).unref()
  })
  try {
    return await Promise.race([value, stuck])
  } finally {
    process.removeListener('beforeExit', onBeforeExit!)
    clearTimeout(timer)
  }
}

const BUILT_IN_ERRORS = ['Error', 'SyntaxError', 'TypeError', 'ReferenceError', 'RangeError', 'URIError', 'EvalError', 'AggregateError']
const LOAD_FAILURE_CODES = ['ERR_MODULE_NOT_FOUND', 'ERR_REQUIRE_ESM', 'ERR_UNSUPPORTED_DIR_IMPORT', 'ERR_PACKAGE_PATH_NOT_EXPORTED']

/**
 * A config module's failure without its message: a message may quote the module's text
 * (a syntax error's line) or hold what the module read (`throw new Error(password)`), and
 * no secret of that config is known yet to mask it. The error's kind, Node's code and the
 * place in the config file are kept; running the file with node shows the rest to its owner.
 * The error is not kept as `cause` either, so that nothing downstream can print it.
 */
function failureWithoutText(error: unknown, path: string): string {
  // A module can set an error's name and code too: only JavaScript's own names and Node's load failures are named.
  const name = error instanceof Error && BUILT_IN_ERRORS.includes(error.name) ? error.name : 'an error'
  const code = (error as { code?: unknown } | null)?.code
  const known = typeof code === 'string' && LOAD_FAILURE_CODES.includes(code) ? ` [${code}]` : ''
  const where = placeIn(error instanceof Error ? error.stack : undefined, path)
  return `${name}${known}${where} (its message is not shown, as it may quote the config; load the file with node to see it)`
}

/** ` at line L[, column C]`, from the first stack line that names the config file; '' if none does. */
function placeIn(stack: string | undefined, path: string): string {
  if (stack === undefined) return ''
  for (const file of [pathToFileURL(path).href, path]) {
    const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    const found = new RegExp(`${escaped}:(\\d+)(?::(\\d+))?`).exec(stack)
    if (found !== null) return ` at line ${found[1]}${found[2] === undefined ? '' : `, column ${found[2]}`}`
  }
  return ''
}

function findDefault(cwd: string): string {
  const found = DEFAULT_CONFIG_FILES.map((name) => join(cwd, name)).find((path) => existsSync(path))
  if (found === undefined) {
    throw new CliUsageError(`no config file: pass --config <file>, or create one of ${DEFAULT_CONFIG_FILES.join(', ')} in ${cwd}`)
  }
  return found
}

function readJson(path: string): unknown {
  // An editor's byte order mark is not part of the JSON.
  const text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '')
  try {
    return JSON.parse(text) as unknown
  } catch {
    // V8's message quotes the text around the mistake, and that text may hold a password: only the place is reported.
    const { line, column } = jsonErrorPosition(text)
    throw new CliUsageError(`config ${path} is not valid JSON: syntax error at line ${line}, column ${column}`)
  }
}
