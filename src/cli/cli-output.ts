import type { Logger } from '../logger.js'
import { SecretRedactor } from './secret-redactor.js'

/**
 * Where the CLI writes: `process.stdout` / `process.stderr` fit.
 */
export interface CliStreams {
  stdout: { write(text: string): unknown }
  /** `isTTY` as Node's streams have it: a terminal gets a progress bar redrawn in place. */
  stderr: { write(text: string): unknown; isTTY?: boolean }
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
  /** Set by the first {@link event}: stdout is NDJSON from then on, the result and an error included. */
  #streaming = false
  /** A progress line drawn without its newline, which the next line printed must end first. */
  #redrawn = false

  constructor(streams: CliStreams) {
    this.#streams = streams
  }

  /** Whether stderr is a terminal, where one progress line can be redrawn in place. */
  get interactive(): boolean {
    return this.#streams.stderr.isTTY === true
  }

  /** Prints the command's result: `data` as JSON with `--json`, else `text()`. */
  result(data: unknown, text: () => string): void {
    this.#write('stdout', this.mode.json ? `${this.#streaming ? toJsonLine(data) : toJson(data)}\n` : `${text()}\n`)
  }

  /**
   * One event of a long command as one JSON line on stdout (`--json` only): the
   * result and any error after it are then one line each too, so that stdout
   * reads as NDJSON from the first line to the last.
   */
  event(data: unknown): void {
    if (!this.mode.json) return
    this.#streaming = true
    this.#write('stdout', `${toJsonLine(data)}\n`)
  }

  /** Redraws the one progress line on a terminal's stderr (`\r`, no newline), unless `--quiet`. */
  redraw(text: string): void {
    if (this.mode.quiet) return
    this.#redrawn = true
    this.#streams.stderr.write(`\r${this.redactor.redact(text)}\u001b[K`)
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
    if (this.#redrawn) {
      this.#redrawn = false
      this.#streams.stderr.write('\n')
    }
    this.#streams[stream].write(this.redactor.redact(text))
  }
}

/**
 * JSON with bigints as strings and errors as their message and code.
 */
export function toJson(data: unknown): string {
  return JSON.stringify(data, plainValue, 2)
}

/** {@link toJson} on one line, for NDJSON. */
export function toJsonLine(data: unknown): string {
  return JSON.stringify(data, plainValue)
}

function plainValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof Error) return { message: value.message, ...codeOf(value) }
  return value
}

function codeOf(error: Error): { code?: string } {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' || typeof code === 'number' ? { code: String(code) } : {}
}
