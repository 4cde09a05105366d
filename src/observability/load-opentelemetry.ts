import type * as OpenTelemetry from '@opentelemetry/api'

/** The parts of `@opentelemetry/api` shardtx uses. */
export type OpenTelemetryApi = Pick<typeof OpenTelemetry, 'trace' | 'metrics' | 'context' | 'SpanKind' | 'SpanStatusCode' | 'ROOT_CONTEXT'>

/**
 * Loads `@opentelemetry/api`, an optional peer dependency: undefined when it is not
 * installed (or fails to load), and shardtx then traces and measures nothing at all.
 * Any other failure is also undefined, never an error: telemetry must not stop a
 * cluster from working.
 */
export async function loadOpenTelemetry(
  importer: () => Promise<unknown> = () => import('@opentelemetry/api'),
): Promise<OpenTelemetryApi | undefined> {
  try {
    const loaded = (await importer()) as Partial<OpenTelemetryApi> | undefined
    if (loaded?.trace === undefined || loaded.metrics === undefined || loaded.context === undefined || loaded.ROOT_CONTEXT === undefined) return undefined
    return loaded as OpenTelemetryApi
  } catch {
    return undefined
  }
}

/** The api, loaded once when shardtx is first imported. */
export const openTelemetryApi: OpenTelemetryApi | undefined = await loadOpenTelemetry()
