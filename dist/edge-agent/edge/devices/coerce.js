// Twin values are strings on the wire (KubeEdge TwinProperty.value), whatever
// the DeviceModel property type. These pure functions turn what a mapper or
// an app sends into the one canonical string per value, check it against
// the property's minimum/maximum, and compare two values the way the type
// means them ("21" and "21.000000" are the same FLOAT), so a desired value
// is not re-applied forever because a register read formats it differently.
import { DeviceError } from './errors.js';

                                                                                                  

export const PROPERTY_TYPES                          = ['INT', 'FLOAT', 'DOUBLE', 'STRING', 'BOOLEAN', 'BYTES', 'STREAM'];

const INT_RE = /^[+-]?\d+$/;
const NUM_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function invalid(type              , raw         , why        )              {
  const shown = typeof raw === 'string' ? JSON.stringify(raw.length > 40 ? `${raw.slice(0, 40)}…` : raw) : String(raw);
  return new DeviceError('TWIN_INVALID_VALUE', `value ${shown} is not a valid ${type}: ${why}`);
}

/** The model's type, or STRING when the model leaves it out (KubeEdge treats an empty type as string). */
export function propertyType(t         )               {
  return typeof t === 'string' && (PROPERTY_TYPES                     ).includes(t.toUpperCase()) ? (t.toUpperCase()                ) : 'STRING';
}

/**
 * The canonical string for `raw` as a `type` value. Strings, finite numbers
 * and booleans are accepted:
 * - INT: an integer (also "21.0" or 21.0), within ±2^53; canonical decimal.
 * - FLOAT / DOUBLE: a finite number; canonical shortest decimal (`String(n)`).
 * - BOOLEAN: true/false (any case), 1/0; canonical "true"/"false".
 * - STRING, BYTES, STREAM: the string as given (numbers/booleans stringified).
 * Pure; throws DeviceError TWIN_INVALID_VALUE saying why.
 */
export function coerceValue(type              , raw         )         {
  if (typeof raw !== 'string' && typeof raw !== 'number' && typeof raw !== 'boolean') throw invalid(type, raw, 'expected a string, number or boolean');
  switch (type) {
    case 'INT': {
      if (typeof raw === 'boolean') throw invalid(type, raw, 'expected an integer');
      const s = String(raw).trim();
      let n        ;
      if (INT_RE.test(s)) n = Number(s);
      else if (NUM_RE.test(s) && Number.isInteger(Number(s))) n = Number(s);
      else throw invalid(type, raw, 'expected an integer');
      if (!Number.isSafeInteger(n)) throw invalid(type, raw, 'integer out of range ±2^53');
      return String(n === 0 ? 0 : n);
    }
    case 'FLOAT':
    case 'DOUBLE': {
      if (typeof raw === 'boolean') throw invalid(type, raw, 'expected a number');
      const s = String(raw).trim();
      if (!NUM_RE.test(s)) throw invalid(type, raw, 'expected a number');
      const n = Number(s);
      if (!Number.isFinite(n)) throw invalid(type, raw, 'expected a finite number');
      return String(n === 0 ? 0 : n);
    }
    case 'BOOLEAN': {
      const s = String(raw).trim().toLowerCase();
      if (s === 'true' || s === '1') return 'true';
      if (s === 'false' || s === '0') return 'false';
      throw invalid(type, raw, 'expected true or false');
    }
    default:
      return String(raw);
  }
}

/** Numeric value of a canonical INT/FLOAT/DOUBLE string; undefined for other types. */
export function numericValue(type              , canonical        )                     {
  return type === 'INT' || type === 'FLOAT' || type === 'DOUBLE' ? Number(canonical) : undefined;
}

/**
 * Checks a canonical value against the model's minimum/maximum (strings; a
 * bound that is not a number, or a non-numeric type, is not checked). Pure;
 * throws DeviceError TWIN_OUT_OF_RANGE.
 */
export function checkRange(type              , canonical        , minimum         , maximum         )       {
  const n = numericValue(type, canonical);
  if (n === undefined) return;
  const lo = minimum !== undefined && minimum.trim() !== '' ? Number(minimum) : NaN;
  const hi = maximum !== undefined && maximum.trim() !== '' ? Number(maximum) : NaN;
  if (!Number.isNaN(lo) && n < lo) throw new DeviceError('TWIN_OUT_OF_RANGE', `value ${canonical} is below the minimum ${minimum}`);
  if (!Number.isNaN(hi) && n > hi) throw new DeviceError('TWIN_OUT_OF_RANGE', `value ${canonical} is above the maximum ${maximum}`);
}

/**
 * Whether two values are the same value of `type` (numbers numerically, with
 * a relative tolerance of 1e-6 for FLOAT, the precision a 32-bit register
 * keeps; booleans case-insensitively; everything else exactly). Values that
 * do not coerce are compared as strings. Pure.
 */
export function sameValue(type              , a                    , b                    )          {
  if (a === undefined || b === undefined) return a === b;
  if (a === b) return true;
  let ca        ;
  let cb        ;
  try {
    ca = coerceValue(type, a);
    cb = coerceValue(type, b);
  } catch {
    return false;
  }
  if (type === 'FLOAT') {
    const x = Number(ca);
    const y = Number(cb);
    return Math.abs(x - y) <= 1e-6 * Math.max(1, Math.abs(x), Math.abs(y));
  }
  return ca === cb;
}
