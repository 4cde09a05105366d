import { parseArgs } from 'node:util'
import { CliUsageError } from './cli-errors.js'

/**
 * The commands of `shardtx`, as typed on the command line.
 */
export const COMMANDS = ['status', 'in-doubt', 'recover', 'resolve', 'route', 'migrate', 'topology'] as const
export type CommandName = (typeof COMMANDS)[number]

/**
 * The parsed command line of `shardtx`.
 */
export interface CliArgs {
  command: CommandName | undefined
  positionals: string[]
  config: string | undefined
  json: boolean
  quiet: boolean
  verbose: boolean
  help: boolean
  /** route: read keys as integers / bigints. */
  int: boolean
  bigint: boolean
  /** migrate: your migrations on every shard rather than the log table. */
  shards: boolean
  directory: string | undefined
  table: string | undefined
  only: string[] | undefined
  /** topology set: the config whose shard list is the target, and whether slots of empty sharded tables may move. */
  to: string | undefined
  allowEmptyMove: boolean
  /** resolve: fence an abort even for an id no shard and no log record knows. */
  force: boolean
}

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  int: { type: 'boolean' },
  bigint: { type: 'boolean' },
  shards: { type: 'boolean' },
  directory: { type: 'string', short: 'd' },
  table: { type: 'string' },
  only: { type: 'string' },
  to: { type: 'string' },
  'allow-empty-move': { type: 'boolean' },
  force: { type: 'boolean' },
} as const

const GLOBAL_FLAGS = { config: true, json: true, quiet: true, verbose: true, help: true }

/** Flags a command takes besides the global ones; any other is a usage error. */
const COMMAND_FLAGS: Record<CommandName, (keyof typeof OPTIONS)[]> = {
  status: [],
  'in-doubt': [],
  recover: [],
  resolve: ['force'],
  route: ['int', 'bigint'],
  migrate: ['shards', 'directory', 'table', 'only'],
  topology: ['to', 'allow-empty-move'],
}

/** How many positionals each command takes: [min, max]. */
const ARITY: Record<CommandName, [number, number, string]> = {
  status: [0, 0, 'status'],
  'in-doubt': [0, 0, 'in-doubt'],
  recover: [0, 0, 'recover'],
  resolve: [2, 2, 'resolve <txId> commit|abort [--force]'],
  route: [1, Infinity, 'route <key>...'],
  migrate: [0, 0, 'migrate [--shards [--directory dir] [--table name] [--only ids]]'],
  topology: [1, 1, 'topology show | set --to <config> [--allow-empty-move]'],
}

/**
 * Parses and checks the arguments; every mistake is a {@link CliUsageError} (exit 2).
 */
export function parseCliArgs(argv: string[]): CliArgs {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true; strict: true }>>
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (error) {
    throw new CliUsageError(`${error instanceof Error ? error.message : String(error)}; see shardtx --help`)
  }
  const { values, positionals } = parsed
  const [name, ...rest] = positionals
  const args: CliArgs = {
    command: undefined,
    positionals: rest,
    config: values.config,
    json: values.json ?? false,
    quiet: values.quiet ?? false,
    verbose: values.verbose ?? false,
    help: values.help ?? false,
    int: values.int ?? false,
    bigint: values.bigint ?? false,
    shards: values.shards ?? false,
    directory: values.directory,
    table: values.table,
    only: values.only?.split(',').map((id) => id.trim()).filter((id) => id !== ''),
    to: values.to,
    allowEmptyMove: values['allow-empty-move'] ?? false,
    force: values.force ?? false,
  }
  if (args.help) return args
  if (name === undefined) throw new CliUsageError('no command given; see shardtx --help')
  if (!(COMMANDS as readonly string[]).includes(name)) {
    throw new CliUsageError(`unknown command "${name}" (commands: ${COMMANDS.join(', ')}); see shardtx --help`)
  }
  const command = name as CommandName
  args.command = command
  for (const flag of Object.keys(values) as (keyof typeof OPTIONS)[]) {
    if (flag in GLOBAL_FLAGS) continue
    if (!COMMAND_FLAGS[command].includes(flag)) throw new CliUsageError(`${command} takes no --${flag}; see shardtx --help`)
  }
  const [min, max, usage] = ARITY[command]
  if (rest.length < min || rest.length > max) throw new CliUsageError(`usage: shardtx ${usage}`)
  if (command === 'topology') checkTopologyArgs(args)
  if (args.int && args.bigint) throw new CliUsageError('route takes --int or --bigint, not both')
  if (!args.shards && (args.directory !== undefined || args.table !== undefined || args.only !== undefined)) {
    throw new CliUsageError('--directory, --table and --only go with migrate --shards')
  }
  return args
}

function checkTopologyArgs(args: CliArgs): void {
  const [verb] = args.positionals
  if (verb !== 'show' && verb !== 'set') throw new CliUsageError('usage: shardtx topology show | set --to <config> [--allow-empty-move]')
  if (verb === 'set' && args.to === undefined) throw new CliUsageError('topology set needs --to <config>, the config whose shards are the new topology')
  if (verb === 'show' && (args.to !== undefined || args.allowEmptyMove)) throw new CliUsageError('--to and --allow-empty-move go with topology set')
}
