// Keeps the coverage-guided fuzz targets working without the fuzzer (test/hostile/fuzz/run.ts runs
// them under Jazzer.js): each target's seeds, plus the hostile frame corpus through the frame target.
import { afterAll, describe, expect, it } from 'vitest';
import { fuzz } from './fuzz-targets/protocol.fuzz.ts';
import * as admission from './fuzz-targets/admission.fuzz.ts';
import * as mqtt from './fuzz-targets/mqtt.fuzz.ts';
import { sampleFrames } from './frames.ts';

describe('protocol fuzz target', () => {
  it('accepts the hostile corpus without throwing', () => {
    for (const f of sampleFrames(1, 3000)) expect(() => fuzz(f)).not.toThrow();
  });
});

describe('MQTT fuzz target', () => {
  afterAll(() => mqtt.dispose());
  it('accepts its seeds, and their truncations, without a finding', async () => {
    for (const s of mqtt.seeds()) for (const n of [s.length, 1, Math.floor(s.length / 2)]) await mqtt.fuzz(s.subarray(0, n));
  });
});

describe('admission fuzz target', () => {
  it('accepts its seeds, and their truncations, without a finding', async () => {
    const seeds = admission.seeds();
    expect(seeds.length).toBeGreaterThan(30);
    for (const s of seeds) for (const n of [s.length, 1, Math.floor(s.length / 2)]) await admission.fuzz(s.subarray(0, n));
  });
});
