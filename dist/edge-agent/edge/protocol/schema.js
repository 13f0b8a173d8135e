// A deliberately tiny JSON-schema-like validator. Each `Field<T>` checks an
// untrusted value and returns a canonical copy: objects come back with their
// keys in schema order, so `JSON.stringify(field.check(x))` is the one
// canonical encoding of `x` (golden vectors re-encode byte-identically).
// It never throws anything but ProtocolError, whatever it is given.
import { ProtocolError } from './errors.js';

/** Values JSON can carry. */
                                                                                       

/** Validation context: the nesting budget for free-form JSON. */
                      
                            
 

/** Checks an untrusted value at `path` and returns its canonical form. */
                           
                             
                                                   
 

/** Throws PROTO_INVALID_FIELD naming the field, what was expected and what came. */
export function fail(path        , expected        , got         )        {
  throw new ProtocolError('PROTO_INVALID_FIELD', `${path}: expected ${expected}, got ${describe(got)}`, { field: path });
}

/** A short, safe description of a value (never echoes long strings). */
export function describe(v         )         {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (Array.isArray(v)) return `an array of ${v.length}`;
  switch (typeof v) {
    case 'string':
      return v.length <= 40 ? JSON.stringify(v) : `a string of ${v.length} characters`;
    case 'number':
    case 'boolean':
      return String(v);
    case 'object': {
      const name          = (Object.getPrototypeOf(v)                                               )?.constructor?.name;
      return typeof name === 'string' && name !== 'Object' ? `a ${name}` : 'an object';
    }
    default:
      return `a ${typeof v}`;
  }
}

/** True for `{}`-style objects (not arrays, class instances or null). */
export function isPlainObject(v         )                               {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto          = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function field   (check                                           )           {
  return { optional: false, check };
}

/** A field that may be absent. */
                                                                             

/** Makes a field optional: absent (or `undefined`) is allowed, `null` is not. */
export function opt   (f          )              {
  return { optional: true, check: f.check };
}

/** An integer in [min, max] (both inclusive, at most 2^53-1). */
export function int(min        , max        )                {
  return field((v, path) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, `an integer in [${min}, ${max}]`, v);
    return v === 0 ? 0 : v; // -0 → 0, so re-encoding is canonical
  });
}

/** `true` or `false`. */
export function bool()                 {
  return field((v, path) => (typeof v === 'boolean' ? v : fail(path, 'a boolean', v)));
}

/** A string of at most `max` UTF-16 units matching `pattern` (`what` names it in errors). */
export function str(max        , pattern                    , what        )                {
  return field((v, path) => {
    if (typeof v !== 'string' || v.length > max || (pattern !== undefined && !pattern.test(v))) fail(path, what, v);
    return v;
  });
}

/** One of a closed set of string literals. */
export function oneOf                        (values              )           {
  const set = new Set        (values);
  return field((v, path) => (typeof v === 'string' && set.has(v) ? (v     ) : fail(path, `one of ${values.map((x) => `"${x}"`).join(', ')}`, v)));
}

/** An array of `min`..`max` items; `unique` rejects repeated (primitive) items. */
export function list   (item          , min        , max        , unique = false)             {
  return field((v, path, ctx) => {
    if (!Array.isArray(v) || v.length < min || v.length > max) fail(path, `an array of ${min}..${max} items`, v);
    const out = v.map((x, i) => item.check(x, `${path}[${i}]`, ctx));
    if (unique && new Set(out).size !== out.length) fail(path, 'no repeated items', v);
    return out;
  });
}

/** A fixed-length array, e.g. a `[name, value]` header pair. */
export function pair      (a          , b          )                {
  return field((v, path, ctx) => {
    if (!Array.isArray(v) || v.length !== 2) fail(path, 'a [name, value] pair', v);
    return [a.check(v[0], `${path}[0]`, ctx), b.check(v[1], `${path}[1]`, ctx)];
  });
}

/**
 * A JSON object used as a map. Keys are validated BEFORE they are stored, so
 * a key schema that rejects `__proto__` keeps the copy prototype-safe.
 */
export function map   (key               , value          , maxEntries        )                           {
  return field((v, path, ctx) => {
    if (!isPlainObject(v)) fail(path, 'an object mapping keys to values', v);
    const keys = Object.keys(v);
    if (keys.length > maxEntries) fail(path, `at most ${maxEntries} entries`, v);
    const out                    = {};
    for (const k of keys) {
      key.check(k, `${path} key`, ctx);
      out[k] = value.check(v[k], `${path}[${JSON.stringify(k)}]`, ctx);
    }
    return out;
  });
}

/** The shape of an object schema for type `T`: one field per property, optional where `T` is. */
                                                                                                                    

/**
 * A closed object: unknown keys are rejected, missing required keys are
 * rejected, and the copy has keys in `shape` order (the canonical order).
 */
export function obj   (shape          )           {
  const entries = Object.entries(shape)                              ;
  const known = new Set(entries.map(([k]) => k));
  return field((v, path, ctx) => {
    if (!isPlainObject(v)) fail(path, 'an object', v);
    for (const k of Object.keys(v)) {
      if (!known.has(k)) {
        throw new ProtocolError('PROTO_INVALID_FIELD', `${path}: unknown field ${JSON.stringify(k.slice(0, 40))}; allowed: ${[...known].join(', ')}`, { field: `${path}.${k.slice(0, 40)}` });
      }
    }
    const out                          = {};
    for (const [k, f] of entries) {
      const x = Object.hasOwn(v, k) ? v[k] : undefined;
      if (x === undefined && f.optional) continue;
      out[k] = f.check(x, `${path}.${k}`, ctx);
    }
    return out     ;
  });
}

/**
 * Free-form JSON whose top level is an object. `depth` is the nesting level
 * of that object in the enclosing document (2 for a field of a frame head),
 * so encode enforces the same budget decode's byte scan does.
 */
export function jsonObject(depth        )                                 {
  return field((v, path, ctx) => {
    if (!isPlainObject(v)) fail(path, 'a JSON object', v);
    checkJson(v, path, depth, ctx.maxDepth);
    return v                           ;
  });
}

// Walks free-form JSON. The path is kept as a stack of segments and only
// turned into a string on failure: encodeObjectBody walks every object once.
function checkJson(v         , path        , depth        , maxDepth        , at                      = [])       {
  const where = () => path + at.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s.slice(0, 40)}`)).join('');
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return;
    case 'number':
      if (!Number.isFinite(v)) fail(where(), 'a finite number', v);
      return;
    case 'object': {
      if (v === null) return;
      if (depth > maxDepth) {
        const p = where();
        throw new ProtocolError('PROTO_TOO_DEEP', `${p}: JSON nested deeper than ${maxDepth} levels (a cycle?); flatten it or raise limits.maxDepth`, { field: p });
      }
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) {
          at.push(i);
          checkJson(v[i], path, depth + 1, maxDepth, at);
          at.pop();
        }
        return;
      }
      if (!isPlainObject(v)) fail(where(), 'plain JSON (objects, arrays, strings, numbers, booleans, null)', v);
      for (const k of Object.keys(v)) {
        at.push(k);
        checkJson(v[k], path, depth + 1, maxDepth, at);
        at.pop();
      }
      return;
    }
    default:
      fail(where(), 'a JSON value', v);
  }
}
