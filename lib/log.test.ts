import { describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';

describe('createLogger', () => {
  it('writes one JSON line per record with child fields and error codes', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), now: () => new Date(0) }).child({ controller: 'nodegroup' });
    const err = Object.assign(new Error('boom'), { code: 'X_FAILED' });
    log.info('Created ConfigMap', { namespace: 'ns', name: 'cm', err });
    log.debug('hidden');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({ ts: '1970-01-01T00:00:00.000Z', level: 'info', msg: 'Created ConfigMap', controller: 'nodegroup',
      namespace: 'ns', name: 'cm', err: { message: 'boom', code: 'X_FAILED' } });
  });
});
