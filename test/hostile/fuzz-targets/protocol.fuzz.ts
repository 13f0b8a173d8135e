/**
 * A coverage-guided fuzz target for the frame decoder and FrameReader, in
 * the shape libFuzzer front ends expect (`fuzz(data)` throws only on a bug).
 * Run under Jazzer.js by `npm run fuzz -- --target frame --seconds N`
 * (test/hostile/fuzz/run.ts; docs/reliability.md "Fuzzing: coverage-guided");
 * fuzz-target.test.ts replays a small corpus through it so it keeps working.
 */
import { decode, FrameReader, ProtocolError } from '../../../edge/protocol/index.ts';

export function fuzz(data: Uint8Array): void {
  for (const direction of ['up', 'down'] as const) {
    try {
      decode(data, { direction });
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
    }
  }
  // the same bytes as a stream, split at a data-dependent point
  const r = new FrameReader({ maxFrameBytes: 1 << 20 });
  const cut = data.length > 0 ? data[0]! % (data.length + 1) : 0;
  try {
    for (const f of [...r.push(data.subarray(0, cut)), ...r.push(data.subarray(cut))]) {
      try {
        decode(f);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
      }
    }
    r.end();
  } catch (err) {
    if (!(err instanceof ProtocolError)) throw err;
  }
}
