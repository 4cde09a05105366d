import { ConfigError } from '../errors.js'
import { traitsOf } from '../../adapters/index.js'
import type { ConnectionObject, Dialect } from './shard-config.js'

const OBJECT_KEYS = new Set(['host', 'port', 'user', 'password', 'database', 'socketPath', 'ssl', 'driverOptions'])

/**
 * Checks a shard's connection (URL or knex-style object) and turns it into the
 * settings its driver takes. Passwords are kept out of every message.
 */
export function normalizeConnection(
  field: string,
  dialect: Dialect,
  connection: unknown,
): Record<string, unknown> {
  if (typeof connection === 'string') return fromUrl(field, dialect, connection)
  if (connection === null || typeof connection !== 'object' || Array.isArray(connection)) {
    throw new ConfigError(field, 'must be a connection URL or an object like { host, port, user, password, database }')
  }
  const object = connection as ConnectionObject & { driverOptions?: unknown }
  for (const key of Object.keys(object)) {
    if (!OBJECT_KEYS.has(key)) {
      throw new ConfigError(`${field}.${key}`, `unknown connection option (known: ${[...OBJECT_KEYS].join(', ')})`)
    }
  }
  checkOptionalString(`${field}.host`, object.host)
  checkOptionalString(`${field}.user`, object.user)
  checkOptionalString(`${field}.password`, object.password)
  checkOptionalString(`${field}.database`, object.database)
  checkOptionalString(`${field}.socketPath`, object.socketPath)
  if (object.ssl !== undefined && typeof object.ssl !== 'boolean' && !isPlainObject(object.ssl)) {
    throw new ConfigError(`${field}.ssl`, 'must be true, false or an object of TLS options')
  }
  if (object.port !== undefined && !(Number.isInteger(object.port) && object.port > 0 && object.port < 65536)) {
    throw new ConfigError(`${field}.port`, 'must be an integer from 1 to 65535')
  }
  const driverOptions = object.driverOptions ?? {}
  if (typeof driverOptions !== 'object' || driverOptions === null || Array.isArray(driverOptions)) {
    throw new ConfigError(`${field}.driverOptions`, 'must be an object of options passed to the driver as they are')
  }
  const { driverOptions: _, socketPath, ...plain } = object
  const settings: Record<string, unknown> = { ...(driverOptions as object), ...plain }
  // pg takes a unix socket directory as `host`; mysql2 calls it `socketPath`.
  if (socketPath !== undefined) settings[traitsOf(dialect).socketPathSetting] = socketPath
  return settings
}

function fromUrl(field: string, dialect: Dialect, text: string): Record<string, unknown> {
  const traits = traitsOf(dialect)
  let url: URL
  try {
    url = new URL(text)
  } catch {
    throw new ConfigError(field, `is not a valid URL (expected ${traits.urlProtocols[0]}//user:password@host:port/database)`)
  }
  if (!traits.urlProtocols.includes(url.protocol)) {
    throw new ConfigError(
      field,
      `a ${dialect} shard needs a ${traits.urlProtocols.join(' or ')} URL, not ${url.protocol}`,
    )
  }
  if (url.hostname === '') throw new ConfigError(field, 'the URL names no host')
  // The drivers decode these themselves, and a bad escape would only fail at the
  // first connection (mysql2) or be passed through as is (pg): refuse it here.
  for (const [part, value] of [['user', url.username], ['password', url.password], ['database', url.pathname]] as const) {
    try {
      decodeURIComponent(value)
    } catch {
      throw new ConfigError(field, `the URL's ${part} holds a malformed percent-escape (write % as %25)`)
    }
  }
  return traits.connectionFromUrl(url, text)
}

function isPlainObject(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function checkOptionalString(field: string, value: unknown): void {
  if (value !== undefined && typeof value !== 'string') throw new ConfigError(field, 'must be a string')
}

/** Replaces the password in a connection URL by `***`, for messages and logs. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/[^:/@]*:)[^@/]*@/g, '$1***@')
}
