/**
 * Where the servers of a test cluster come from.
 *
 * ```ts
 * const backend: LocalClusterBackend = process.env.CI ? 'local' : 'containers'
 * ```
 */
export type LocalClusterBackend = 'local' | 'containers' | 'env'

export const BACKENDS: readonly LocalClusterBackend[] = ['local', 'containers', 'env']
