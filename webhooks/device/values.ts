/**
 * Property values as KubeEdge mappers parse them: desired twin values are
 * strings that the mapper converts with Go's strconv (ParseInt with 64 bits,
 * ParseFloat, ParseBool) according to the DeviceModel property type.
 */
import type { PropertyType } from '../../api/index.ts';

/** A parsed value (with its number for numeric types), or how to fix it. */
export type ParsedValue = { ok: true; number?: number } | { ok: false; fix: string };

const intRe = /^[-+]?[0-9]+$/;
const floatRe = /^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/;
const bools = new Set(['1', 't', 'T', 'TRUE', 'true', 'True', '0', 'f', 'F', 'FALSE', 'false', 'False']);
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const FLOAT32_MAX = 3.4028234663852886e38;

/** True for the types whose values are numbers (and so have a minimum and maximum). */
export const isNumericType = (t: PropertyType | undefined): t is 'INT' | 'FLOAT' | 'DOUBLE' => t === 'INT' || t === 'FLOAT' || t === 'DOUBLE';

/**
 * Parses `value` as a value of type `type`. STRING, BYTES and STREAM accept
 * anything (BYTES and STREAM encodings are mapper-specific), as does a
 * property without a type.
 */
export function parseValue(type: PropertyType | undefined, value: string): ParsedValue {
  switch (type) {
    case 'INT': {
      if (!intRe.test(value)) return { ok: false, fix: 'use an integer like "42"' };
      const n = BigInt(value);
      if (n < INT64_MIN || n > INT64_MAX) return { ok: false, fix: 'use an integer that fits in 64 bits' };
      return { ok: true, number: Number(n) };
    }
    case 'FLOAT':
    case 'DOUBLE': {
      if (!floatRe.test(value)) return { ok: false, fix: 'use a decimal number like "21.5"' };
      const n = Number(value);
      if (!Number.isFinite(n) || (type === 'FLOAT' && Math.abs(n) > FLOAT32_MAX)) return { ok: false, fix: `use a number within the ${type} range` };
      return { ok: true, number: n };
    }
    case 'BOOLEAN':
      return bools.has(value) ? { ok: true } : { ok: false, fix: 'use "true" or "false"' };
    default:
      return { ok: true };
  }
}
