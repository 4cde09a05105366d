import { ShardTxError } from '../errors.js'

/**
 * Machine-readable kinds of {@link LocalClusterError}.
 *
 * ```ts
 * if ((err as LocalClusterError).code === 'LOCAL_CLUSTER_BINARY_MISSING') ctx.skip()
 * ```
 */
export type LocalClusterErrorCode =
  | 'LOCAL_CLUSTER_OPTIONS'
  | 'LOCAL_CLUSTER_BINARY_MISSING'
  | 'LOCAL_CLUSTER_START'
  | 'LOCAL_CLUSTER_UNKNOWN_SHARD'
  | 'LOCAL_CLUSTER_UNSUPPORTED'
  | 'LOCAL_CLUSTER_NO_CONTAINER_RUNTIME'
  | 'LOCAL_CLUSTER_IMAGE_MISSING'
  | 'LOCAL_CLUSTER_DESTROYED'
  | 'LOCAL_CLUSTER_NO_FAULTS'

/**
 * A throwaway test cluster could not be started or operated. `code` says
 * which way; a failed server start carries the tail of the server's log in
 * its message.
 *
 * ```ts
 * try { await startLocalCluster({ postgres: -1 }) }
 * catch (err) { if (err instanceof LocalClusterError) console.log(err.code) } // LOCAL_CLUSTER_OPTIONS
 * ```
 */
export class LocalClusterError extends ShardTxError {
  declare readonly code: LocalClusterErrorCode
  constructor(code: LocalClusterErrorCode, message: string, cause?: unknown) {
    super(message, { code, cause })
  }
}

/**
 * A server program needed by the `local` backend is not installed.
 * `packageName` is the Debian package that provides it.
 *
 * ```ts
 * catch (err) { if (err instanceof MissingServerBinaryError) console.log(`apt-get install ${err.packageName}`) }
 * ```
 */
export class MissingServerBinaryError extends LocalClusterError {
  readonly binary: string
  readonly packageName: string
  constructor(binary: string, packageName: string, searched: readonly string[]) {
    super(
      'LOCAL_CLUSTER_BINARY_MISSING',
      `cannot find ${binary} (searched ${searched.join(', ') || 'nothing'}); ` +
        `install it, e.g. \`apt-get install ${packageName}\`, or choose another backend with SHARDTX_TEST_BACKEND`,
    )
    this.binary = binary
    this.packageName = packageName
  }
}

/**
 * The cluster's backend cannot do what was asked, e.g. kill a server it only
 * knows by a connection string (`env` backend).
 *
 * ```ts
 * catch (err) { if (err instanceof UnsupportedByBackendError) ctx.skip() }
 * ```
 */
export class UnsupportedByBackendError extends LocalClusterError {
  readonly backend: string
  readonly operation: string
  constructor(backend: string, operation: string, why: string) {
    super('LOCAL_CLUSTER_UNSUPPORTED', `${operation} is not supported by the ${backend} backend: ${why}`)
    this.backend = backend
    this.operation = operation
  }
}
