import { CliUsageError } from '../cli-errors.js'
import type { CliArgs } from '../cli-args.js'
import type { Command } from '../command-context.js'
import { ExitCode } from '../exit-codes.js'
import { textTable } from '../text-table.js'

/**
 * `shardtx route <key>...`: the shard of each key, from the ring alone (no
 * connection). Keys are strings unless `--int` or `--bigint`; the ring routes
 * 42, 42n and '42' alike, so the flags matter for spellings like `042` or `+7`,
 * and they check that the key is a whole number. One key prints its shard id
 * alone, for `$(shardtx route user:1)`.
 */
export const routeCommand: Command = async ({ cluster, args, out }) => {
  const type = args.int ? 'int' : args.bigint ? 'bigint' : 'string'
  const routes = args.positionals.map((text) => {
    const key = keyOf(text, args)
    return { key: text, type, shardId: cluster.shardFor(key) }
  })
  out.result({ routes }, () =>
    routes.length === 1 ? routes[0]!.shardId : textTable(['KEY', 'SHARD'], routes.map((r) => [r.key, r.shardId])),
  )
  return ExitCode.Ok
}

function keyOf(text: string, args: CliArgs): string | number | bigint {
  if (!args.int && !args.bigint) return text
  if (!/^[+-]?\d+$/.test(text)) throw new CliUsageError(`"${text}" is not a whole number`)
  if (args.bigint) return BigInt(text)
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new CliUsageError(`${text} is beyond ±2^53-1, the safe integer range; use --bigint`)
  return n
}
