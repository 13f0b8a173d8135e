import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkRange, coerceValue, propertyType, sameValue, type PropertyType } from './coerce.ts';
import { DeviceError } from './errors.ts';

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof DeviceError) return e.code;
    throw e;
  }
  return undefined;
}

describe('coerceValue', () => {
  it.each<[PropertyType, unknown, string]>([
    ['INT', '42', '42'],
    ['INT', ' -7 ', '-7'],
    ['INT', '+5', '5'],
    ['INT', '21.0', '21'],
    ['INT', 21, '21'],
    ['INT', '-0', '0'],
    ['FLOAT', '21.50', '21.5'],
    ['FLOAT', '1e3', '1000'],
    ['FLOAT', 0.1, '0.1'],
    ['DOUBLE', '.5', '0.5'],
    ['BOOLEAN', 'TRUE', 'true'],
    ['BOOLEAN', '0', 'false'],
    ['BOOLEAN', true, 'true'],
    ['BOOLEAN', 1, 'true'],
    ['STRING', 'hello world', 'hello world'],
    ['STRING', 12, '12'],
    ['BYTES', 'ff00', 'ff00'],
  ])('%s %j → %s', (type, raw, want) => {
    expect(coerceValue(type, raw)).toBe(want);
  });

  it.each<[PropertyType, unknown]>([
    ['INT', '21.5'], ['INT', 'abc'], ['INT', true], ['INT', '9007199254740993'], ['INT', ''],
    ['FLOAT', 'NaN'], ['FLOAT', 'Infinity'], ['FLOAT', '1,5'], ['FLOAT', false],
    ['BOOLEAN', 'yes'], ['BOOLEAN', 2],
    ['STRING', null], ['STRING', {}], ['INT', []],
  ])('refuses %s %j with TWIN_INVALID_VALUE', (type, raw) => {
    expect(codeOf(() => coerceValue(type, raw))).toBe('TWIN_INVALID_VALUE');
  });

  it('is idempotent: coercing a canonical value gives it back (fast-check)', () => {
    fc.assert(fc.property(fc.constantFrom<PropertyType>('INT', 'FLOAT', 'DOUBLE', 'BOOLEAN', 'STRING'), fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.string()), (t, raw) => {
      let c: string;
      try {
        c = coerceValue(t, raw);
      } catch (e) {
        if (e instanceof DeviceError) return;
        throw e;
      }
      expect(coerceValue(t, c)).toBe(c);
    }), { numRuns: 2000 });
  });
});

describe('range and comparison', () => {
  it('checks numeric minimum/maximum only', () => {
    expect(codeOf(() => checkRange('INT', '4', '5', '35'))).toBe('TWIN_OUT_OF_RANGE');
    expect(codeOf(() => checkRange('FLOAT', '35.5', '5', '35'))).toBe('TWIN_OUT_OF_RANGE');
    expect(codeOf(() => checkRange('INT', '35', '5', '35'))).toBeUndefined();
    expect(codeOf(() => checkRange('STRING', 'zzz', 'a', 'b'))).toBeUndefined();
    expect(codeOf(() => checkRange('INT', '1000', 'low', ''))).toBeUndefined();
  });

  it('compares by type', () => {
    expect(sameValue('FLOAT', '21', '21.000000')).toBe(true);
    expect(sameValue('FLOAT', '21.5', '21.500001')).toBe(true);
    expect(sameValue('FLOAT', '21.5', '21.6')).toBe(false);
    expect(sameValue('INT', '21', '21.0')).toBe(true);
    expect(sameValue('BOOLEAN', 'True', '1')).toBe(true);
    expect(sameValue('STRING', 'a', 'A')).toBe(false);
    expect(sameValue('INT', '5', undefined)).toBe(false);
    expect(sameValue('INT', 'x', 'y')).toBe(false);
  });

  it('maps model types, defaulting to STRING', () => {
    expect(propertyType('float')).toBe('FLOAT');
    expect(propertyType(undefined)).toBe('STRING');
    expect(propertyType('weird')).toBe('STRING');
  });
});
