import { trace } from '@opentelemetry/api'
import { describe, expect, it } from 'vitest'
import { OpenTelemetryTelemetry } from '../../src/observability/otel-telemetry.js'
import { openTelemetryApi } from '../../src/observability/load-opentelemetry.js'
import { accountsCluster } from './accounts-cluster.js'

// `@opentelemetry/api` is installed here (a dev dependency) but no SDK is registered,
// as in an application that has the api through some other package.
describe('OpenTelemetry api installed, no SDK registered', () => {
  const setup = accountsCluster()

  it('makes no span and no span context, and commits as before', async () => {
    const { t, accounts } = setup
    const active = await t.cluster.transaction(async (tx) => {
      await tx.forShard('pg-1')(accounts).where({ id: 1 }).decrement('balance', 1)
      await tx.forShard('my-1')(accounts).where({ id: 1 }).increment('balance', 1)
      return trace.getActiveSpan()
    })
    expect(active).toBeUndefined()
    expect((await t.balances(accounts, 'my-1')).get(1)).toBe(101)
    expect(t.cluster.stats().commits.twoPhase).toBe(1)
  })

  it('starts a non-recording span per attempt and no traced attempt', () => {
    const telemetry = new OpenTelemetryTelemetry(openTelemetryApi!, [], 'pg-0')
    const attempt = telemetry.startAttempt('tx-1', 1)
    expect(attempt.constructor.name).toBe('MeteredAttempt')
  })
})
