import type { Logger } from '../logger.js'
import { SecretRedactor } from './secret-redactor.js'

/**
 * Where the CLI writes: `process.stdout` / `process.stderr` fit.
 */
export interface CliStreams {
  stdout: { write(text: string): unknown }
  stderr: { write(text: string): unknown }
}

/**
 * How the CLI prints, from the global flags.
 */
export interface CliOutputMode {
  /** One JSON document on stdout instead of text. */
  json: boolean
  /** No progress lines on stderr. */
  quiet: boolean
  /** Library log lines down to debug on stderr, and stacks of unexpected errors. */
  verbose: boolean
}

/**
 * Everything the CLI prints goes through here, and through the redactor:
 * results on stdout (text, or one JSON document with `--json`), progress and
 * errors on stderr, so `--json` output stays parseable.
 */
export class CliOutput {
  readonly redactor = new SecretRedactor()
  mode: CliOutputMode = { json: false, quiet: false, verbose: false }
  readonly #streams: CliStreams

  constructor(streams: CliStreams) {
    this.#streams = streams
  }

  /** Prints the command's result: `data` as JSON with `--json`, else `text()`. */
  result(data: unknown, text: () => string): void {
    this.#write('stdout', this.mode.json ? `${toJson(data)}\n` : `${text()}\n`)
  }

  /** A line of text on stdout, whatever the mode (help). */
  line(text: string): void {
    this.#write('stdout', `${text}\n`)
  }

  /** A progress line on stderr, unless `--quiet`. */
  progress(text: string): void {
    if (!this.mode.quiet) this.#write('stderr', `${text}\n`)
  }

  /** An error or warning line on stderr, always. */
  problem(text: string): void {
    this.#write('stderr', `${text}\n`)
  }

  /**
   * A logger for the cluster that writes to stderr: errors, and everything with
   * `--verbose`. Warnings wait for `--verbose` too: the CLI reports each failure
   * itself, and knex's warnings about a failed migration would only repeat it.
   */
  logger(bindings: Record<string, unknown> = {}): Logger {
    const write = (level: string, obj: object, msg?: string): void => {
      const fields = { ...bindings, ...obj } as Record<string, unknown>
      const err = fields.err
      delete fields.err
      const detail = Object.keys(fields).length > 0 ? ` ${toJson(fields)}` : ''
      const reason = err instanceof Error ? `: ${err.message}` : ''
      this.problem(`shardtx ${level}: ${msg ?? ''}${reason}${detail}`)
    }
    const verboseOnly = (level: string) => (obj: object, msg?: string): void => {
      if (this.mode.verbose) write(level, obj, msg)
    }
    return {
      debug: verboseOnly('debug'),
      info: verboseOnly('info'),
      warn: verboseOnly('warn'),
      error: (obj, msg) => write('error', obj, msg),
      child: (more) => this.logger({ ...bindings, ...more }),
    }
  }

  #write(stream: 'stdout' | 'stderr', text: string): void {
    this.#streams[stream].write(this.redactor.redact(text))
  }
}

/**
 * JSON with bigints as strings and errors as their message and code.
 */
export function toJson(data: unknown): string {
  return JSON.stringify(
    data,
    (_key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString()
      if (value instanceof Error) return { message: value.message, ...codeOf(value) }
      return value
    },
    2,
  )
}

function codeOf(error: Error): { code?: string } {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}
}
