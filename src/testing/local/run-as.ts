import { spawnSync } from 'node:child_process'
import { statSync } from 'node:fs'
import { dirname } from 'node:path'
import { LocalClusterError } from '../local-cluster-errors.js'

/**
 * The OS identity a server process runs as; undefined means "as this process".
 */
export type RunAs = { uid: number; gid: number } | undefined

/**
 * The identity to run PostgreSQL as. initdb and postgres refuse to run as
 * root, so a root process runs them as the `postgres` user that the Debian
 * package creates; anyone else runs them as themselves. The switch is done by
 * spawn's uid/gid, not `runuser`: runuser stays behind as the parent, so its
 * pid would not be the server's and a SIGKILL to it would not crash postgres.
 */
export function postgresRunAs(): RunAs {
  if (process.getuid?.() !== 0) return undefined
  const uid = idOf('postgres', '-u')
  const gid = idOf('postgres', '-g')
  if (uid === undefined || gid === undefined) {
    throw new LocalClusterError(
      'LOCAL_CLUSTER_BINARY_MISSING',
      'running as root, PostgreSQL must run as the "postgres" OS user, which does not exist; ' +
        'install the Debian package `postgresql` (it creates the user) or run the tests as a non-root user',
    )
  }
  return { uid, gid }
}

function idOf(user: string, flag: '-u' | '-g'): number | undefined {
  const result = spawnSync('id', [flag, user], { encoding: 'utf8' })
  const id = Number.parseInt(result.stdout ?? '', 10)
  return result.status === 0 && Number.isSafeInteger(id) ? id : undefined
}

/**
 * Throws a clear error when `runAs` cannot traverse the directories above
 * `dir` (initdb would only say "Permission denied"), e.g. a TMPDIR that is
 * private to root.
 */
export function assertReachable(dir: string, runAs: RunAs): void {
  if (!runAs) return
  for (let parent = dirname(dir); ; parent = dirname(parent)) {
    const { mode, uid, gid } = statSync(parent)
    const searchable = uid === runAs.uid ? mode & 0o100 : gid === runAs.gid ? mode & 0o010 : mode & 0o001
    if (!searchable) {
      throw new LocalClusterError(
        'LOCAL_CLUSTER_START',
        `PostgreSQL runs as the "postgres" user, which cannot enter ${parent} (mode ${(mode & 0o777).toString(8)}); ` +
          'point TMPDIR at a directory it can reach, such as /tmp',
      )
    }
    if (parent === dirname(parent)) return
  }
}
