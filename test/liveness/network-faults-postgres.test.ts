import { describe } from 'vitest'
import { describeFaultMatrix } from './fault-matrix.js'

// One file per dialect, so the two halves of the matrix run side by side.
describe('postgres shards: black-holed and reset paths at every protocol step', () => describeFaultMatrix('postgres'))
