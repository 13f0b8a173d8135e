// Keeps the coverage-guided fuzz target working: the hostile frame corpus through it.
import { describe, expect, it } from 'vitest';
import { fuzz } from './fuzz-targets/protocol.fuzz.ts';
import { sampleFrames } from './frames.ts';

describe('protocol fuzz target', () => {
  it('accepts the hostile corpus without throwing', () => {
    for (const f of sampleFrames(1, 3000)) expect(() => fuzz(f)).not.toThrow();
  });
});
