import type { Participant } from '../src/protocol/participant.js'
import type { EpochFence } from '../src/topology/epoch-fence.js'
import { DIALECTS } from './index.js'

/** The fence of `participant`'s shard, as an epoch change uses it, in the shard's own dialect. */
export function epochFenceOf(participant: Participant, fenceTable: string): EpochFence {
  return DIALECTS[participant.dialect].epochFence(participant, fenceTable)
}
