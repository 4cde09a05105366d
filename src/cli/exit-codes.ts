/**
 * The exit codes of the `shardtx` command, the contract scripts rely on:
 * - `0` done, and nothing is left in doubt;
 * - `1` the operation failed, or in-doubt branches or other problems remain;
 * - `2` a usage or configuration mistake: nothing was sent to any shard;
 * - `3` a shard could not be reached (or refused the login);
 * - `130` interrupted (SIGINT, Ctrl-C): a resharding job stopped at a batch boundary
 *   and can be resumed, or `reshard verify` at a page boundary (resumable from its
 *   `--save` file), as shells report a command that Ctrl-C ended (128 + 2).
 */
export const ExitCode = {
  Ok: 0,
  Failed: 1,
  Usage: 2,
  Unreachable: 3,
  Interrupted: 130,
} as const

export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]
