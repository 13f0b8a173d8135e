import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeviceError, resultCode } from './errors.ts';
import { errorResult, eventIdOf, MAX_PAYLOAD_BYTES, parseGet, parseStateUpdate, parseTwinUpdate } from './payloads.ts';
import { parseTopic, topicMatches, topics } from './topics.ts';

const b = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
  return undefined;
}

describe('twin/update payload', () => {
  it('parses the KubeEdge shape, ignoring unknown fields', () => {
    const u = parseTwinUpdate(b({
      event_id: 'e1', timestamp: 1700000000000,
      twin: {
        temperature: { actual: { value: '21.5', metadata: { timestamp: 1700000000123 } }, metadata: { type: 'float' }, optional: false },
        setpoint: { expected: { value: '22' }, expected_version: { cloud: 1, edge: 0 } },
        empty: { metadata: { type: 'int' } },
      },
      extra: true,
    }));
    expect(u.eventId).toBe('e1');
    expect([...u.twins]).toEqual([
      ['temperature', { actual: { value: '21.5', timestamp: 1700000000123 } }],
      ['setpoint', { expected: { value: '22' } }],
    ]);
  });

  it('accepts numbers and booleans as values (Go mappers sometimes send them)', () => {
    const u = parseTwinUpdate(b({ twin: { a: { actual: { value: 3.5 } }, b: { actual: { value: true } } } }));
    expect(u.twins.get('a')!.actual!.value).toBe(3.5);
    expect(u.twins.get('b')!.actual!.value).toBe(true);
    expect(u.eventId).toBe('');
  });

  it.each([
    ['empty payload', '', 'TWIN_BAD_JSON'],
    ['not JSON', '{"twin":', 'TWIN_BAD_JSON'],
    ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d]), 'TWIN_BAD_JSON'],
    ['a JSON array', [], 'TWIN_NOT_OBJECT'],
    ['JSON null', 'null', 'TWIN_NOT_OBJECT'],
    ['a number', '42', 'TWIN_NOT_OBJECT'],
    ['no twin', { event_id: 'x' }, 'TWIN_MISSING_TWIN'],
    ['twin null', { twin: null }, 'TWIN_MISSING_TWIN'],
    ['twin an array', { twin: [] }, 'TWIN_INVALID_FIELD'],
    ['event_id a number', { event_id: 5, twin: {} }, 'TWIN_INVALID_FIELD'],
    ['timestamp a string', { timestamp: 'now', twin: {} }, 'TWIN_INVALID_FIELD'],
    ['bad twin key', { twin: { 'has space': { actual: { value: '1' } } } }, 'TWIN_INVALID_KEY'],
    ['too long twin key', { twin: { ['k'.repeat(129)]: { actual: { value: '1' } } } }, 'TWIN_INVALID_KEY'],
    ['twin entry null (delete)', { twin: { a: null } }, 'TWIN_INVALID_VALUE'],
    ['twin entry a string', { twin: { a: 'x' } }, 'TWIN_INVALID_FIELD'],
    ['actual a string', { twin: { a: { actual: '1' } } }, 'TWIN_INVALID_FIELD'],
    ['actual without value', { twin: { a: { actual: {} } } }, 'TWIN_INVALID_VALUE'],
    ['value an object', { twin: { a: { actual: { value: { x: 1 } } } } }, 'TWIN_INVALID_VALUE'],
    ['value NaN-like', '{"twin":{"a":{"actual":{"value":1e999}}}}', 'TWIN_INVALID_VALUE'],
    ['value too long', { twin: { a: { actual: { value: 'x'.repeat(4097) } } } }, 'TWIN_INVALID_VALUE'],
    ['value with control chars', { twin: { a: { actual: { value: 'a\u0000b' } } } }, 'TWIN_INVALID_VALUE'],
    ['bad value timestamp', { twin: { a: { actual: { value: '1', metadata: { timestamp: 'x' } } } } }, 'TWIN_INVALID_FIELD'],
    ['too many twins', { twin: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`p${i}`, { actual: { value: '1' } }])) }, 'TWIN_INVALID_FIELD'],
    ['too large', `{"twin":{},"pad":"${'x'.repeat(MAX_PAYLOAD_BYTES)}"}`, 'TWIN_PAYLOAD_TOO_LARGE'],
  ])('refuses %s with %s', (_n, payload, want) => {
    expect(codeOf(() => parseTwinUpdate(Buffer.isBuffer(payload) ? payload : b(payload)))).toBe(want);
  });

  it('never throws anything but DeviceError, whatever the bytes (fast-check)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.json().map((s) => new TextEncoder().encode(s)), fc.anything().map((v) => b(JSON.stringify({ twin: v }) ?? ''))), (bytes) => {
        for (const f of [parseTwinUpdate, parseGet, parseStateUpdate]) {
          try {
            f(Buffer.from(bytes));
          } catch (e) {
            if (!(e instanceof DeviceError)) throw e;
          }
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('get and state payloads', () => {
  it('takes an empty get payload as no event id', () => {
    expect(parseGet(Buffer.alloc(0))).toEqual({ eventId: '' });
    expect(parseGet(b({ event_id: 'g1' }))).toEqual({ eventId: 'g1' });
    expect(codeOf(() => parseGet(b('nope')))).toBe('TWIN_BAD_JSON');
  });

  it('parses state updates case-insensitively and refuses unknown states', () => {
    expect(parseStateUpdate(b({ event_id: 's', state: 'Online' }))).toEqual({ eventId: 's', state: 'online' });
    expect(codeOf(() => parseStateUpdate(b({ state: 'asleep' })))).toBe('TWIN_INVALID_STATE');
    expect(codeOf(() => parseStateUpdate(b({})))).toBe('TWIN_INVALID_STATE');
  });

  it('answers errors in KubeEdge shape plus a stable code', () => {
    const out = JSON.parse(errorResult('e9', new DeviceError('TWIN_DEVICE_NOT_FOUND', 'no device'), 5).toString()) as Record<string, unknown>;
    expect(out).toEqual({ event_id: 'e9', timestamp: 5, code: 404, reason: 'no device', error: 'TWIN_DEVICE_NOT_FOUND' });
    expect(resultCode('TWIN_BAD_JSON')).toBe(400);
    expect(resultCode('TWIN_STORE_FAILED')).toBe(500);
    expect(eventIdOf(b({ event_id: 'x', twin: 1 }))).toBe('x');
    expect(eventIdOf(b('garbage'))).toBe('');
  });
});

describe('topics', () => {
  it('builds the exact KubeEdge strings', () => {
    expect(topics.twinUpdate('ns/dev')).toBe('$hw/events/device/ns/dev/twin/update');
    expect(topics.twinUpdateResult('ns/dev')).toBe('$hw/events/device/ns/dev/twin/update/result');
    expect(topics.twinUpdateDelta('ns/dev')).toBe('$hw/events/device/ns/dev/twin/update/delta');
    expect(topics.twinUpdateDocument('ns/dev')).toBe('$hw/events/device/ns/dev/twin/update/document');
    expect(topics.twinGetResult('ns/dev')).toBe('$hw/events/device/ns/dev/twin/get/result');
    expect(topics.stateUpdateResult('ns/dev')).toBe('$hw/events/device/ns/dev/state/update/result');
    expect(topics.membershipGetResult('edge-1')).toBe('$hw/events/node/edge-1/membership/get/result');
    expect(topics.membershipUpdated('edge-1')).toBe('$hw/events/node/edge-1/membership/updated');
  });

  it('parses requests and ignores everything else', () => {
    expect(parseTopic('$hw/events/device/ns/dev/twin/update')).toEqual({ kind: 'twin-update', id: 'ns/dev', namespace: 'ns', name: 'dev' });
    expect(parseTopic('$hw/events/device/ns/dev/twin/get')?.kind).toBe('twin-get');
    expect(parseTopic('$hw/events/device/ns/dev/state/update')?.kind).toBe('state-update');
    expect(parseTopic('$hw/events/node/edge-1/membership/get')).toEqual({ kind: 'membership-get', node: 'edge-1' });
    for (const t of ['$hw/events/device/ns/dev/twin/update/result', '$hw/events/device/ns/dev/twin/cloud_updated', '$hw/events/device/dev/twin/update', '$hw/events/node/n/membership/updated', 'a/b']) {
      expect(parseTopic(t)).toBeUndefined();
    }
  });

  it('matches MQTT filters', () => {
    expect(topicMatches('$hw/events/device/+/+/twin/+', '$hw/events/device/a/b/twin/update')).toBe(true);
    expect(topicMatches('$hw/events/device/+/+/twin/+', '$hw/events/device/a/b/twin/update/result')).toBe(false);
    expect(topicMatches('a/#', 'a')).toBe(true);
    expect(topicMatches('a/#', 'a/b/c')).toBe(true);
    expect(topicMatches('#', '$hw/x')).toBe(false);
    expect(topicMatches('+/x', '$hw/x')).toBe(false);
    expect(topicMatches('a/+', 'a/b/c')).toBe(false);
  });
});
