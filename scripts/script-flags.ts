import { parseArgs, type ParseArgsConfig } from 'node:util'

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * Command-line flags for the repository's scripts (`npm run bench`, the model
 * check, the ring bench), parsed the same way everywhere: `--help` / `-h`
 * prints `help` and exits 0; an unknown flag, a missing value or a value
 * outside its `choices` prints one line naming the script and exits 2, never a
 * stack trace.
 *
 * ```ts
 * const flags = scriptFlags('bench', HELP, { only: { type: 'string' } }, { only: ['tx', 'memory'] })
 * ```
 */
export function scriptFlags<T extends Options>(
  script: string,
  help: string,
  options: T,
  choices: { [K in keyof T]?: readonly string[] } = {},
  argv: string[] = process.argv.slice(2),
): ReturnType<typeof parseArgs<{ options: T; strict: true; allowPositionals: false }>>['values'] {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(help.endsWith('\n') ? help : `${help}\n`)
    process.exit(0)
  }
  try {
    const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false })
    for (const [name, allowed] of Object.entries(choices) as [string, readonly string[] | undefined][]) {
      const given = (values as Record<string, unknown>)[name]
      for (const value of Array.isArray(given) ? given : given === undefined ? [] : [given]) {
        if (!allowed!.includes(String(value))) throw new Error(`--${name} must be one of: ${allowed!.join(', ')} (got '${String(value)}')`)
      }
    }
    return values as never
  } catch (error) {
    // parseArgs' messages are one line already; keep the first line only, to be sure.
    process.stderr.write(`${script}: ${String((error as Error).message).split('\n')[0]}; see --help\n`)
    process.exit(2)
  }
}

/**
 * A flag's value as a positive integer; anything else prints one line naming the
 * script and the flag and exits 2, like an unknown flag.
 *
 * ```ts
 * const perWindow = positiveIntFlag('bench:cpu', 'tx', flags.tx!)
 * ```
 */
export function positiveIntFlag(script: string, flag: string, text: string): number {
  const n = Number(text)
  if (!Number.isInteger(n) || n <= 0) {
    process.stderr.write(`${script}: --${flag} must be a positive integer (got '${text}'); see --help\n`)
    process.exit(2)
  }
  return n
}
