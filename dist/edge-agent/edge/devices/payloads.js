// KubeEdge device-twin MQTT payloads (KubeEdge edge/pkg/devicetwin/dttype),
// parsed from untrusted bytes and built for results. Pure: no I/O, `now`
// passed in. Parsing is as lenient as KubeEdge's Go json.Unmarshal where
// that is harmless (unknown fields are ignored, numbers and booleans are
// accepted as values) and strict where a wrong guess would corrupt the twin
// (a twin entry of `null`, a value that is an object). Every failure is a
// DeviceError with a stable TWIN_* code; the twin answers it on the result
// topic with KubeEdge's numeric `code` plus our `error` code.
import { randomUUID } from 'node:crypto';
import { DEVICE_STATES, MAX_TWIN_VALUE, MAX_TWINS, TWIN_NAME,                  } from '../protocol/device-reports.js';
import { DeviceError, resultCode } from './errors.js';

/** Largest payload the twin parses (KubeEdge has no limit; 64 KiB holds 256 twins of 200 characters). */
export const MAX_PAYLOAD_BYTES = 64 * 1024;

/** A raw twin value as an app sent it (coerced to the property type later). */
                           
                                   
                                                            
                     
 

/** One entry of `twin` in a twin/update payload. */
                                  
                    
                      
 

                                    
                  
                                      
 

                                     
                  
                     
 

const utf8 = new TextDecoder('utf-8', { fatal: true });

function err(code                                              , message        )              {
  return new DeviceError(code, message);
}

function isObject(v         )                               {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the JSON object of a payload; empty payloads are `{}` when `emptyOk`. */
function parseObject(payload            , emptyOk         )                          {
  if (payload.byteLength > MAX_PAYLOAD_BYTES) throw err('TWIN_PAYLOAD_TOO_LARGE', `payload is ${payload.byteLength} bytes; at most ${MAX_PAYLOAD_BYTES} are accepted`);
  if (payload.byteLength === 0) {
    if (emptyOk) return {};
    throw err('TWIN_BAD_JSON', 'payload is empty; send a JSON object such as {"event_id":"1","twin":{...}}');
  }
  let v         ;
  try {
    v = JSON.parse(utf8.decode(payload));
  } catch (e) {
    throw err('TWIN_BAD_JSON', `payload is not UTF-8 JSON (${(e         ).message}); send a JSON object`);
  }
  if (!isObject(v)) throw err('TWIN_NOT_OBJECT', `payload must be a JSON object, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}`);
  return v;
}

function baseFields(o                         )         {
  const id = o.event_id;
  if (id !== undefined && id !== null && typeof id !== 'string') throw err('TWIN_INVALID_FIELD', `event_id must be a string, got ${typeof id}`);
  if (typeof id === 'string' && id.length > 256) throw err('TWIN_INVALID_FIELD', 'event_id must be at most 256 characters');
  const ts = o.timestamp;
  if (ts !== undefined && ts !== null && (typeof ts !== 'number' || !Number.isFinite(ts))) throw err('TWIN_INVALID_FIELD', `timestamp must be a number (ms since the epoch), got ${typeof ts}`);
  return typeof id === 'string' ? id : '';
}

/** Best-effort event_id of a payload, for correlating an error answer; '' when there is none. Never throws. */
export function eventIdOf(payload            )         {
  try {
    const o = JSON.parse(utf8.decode(payload))           ;
    return isObject(o) && typeof o.event_id === 'string' ? o.event_id.slice(0, 256) : '';
  } catch {
    return '';
  }
}

function rawValue(v         , where        )           {
  if (!isObject(v)) throw err('TWIN_INVALID_FIELD', `${where} must be an object like {"value":"21"}, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  const value = v.value;
  if (value === undefined || value === null) throw err('TWIN_INVALID_VALUE', `${where}.value is required`);
  if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value)) && typeof value !== 'boolean') {
    throw err('TWIN_INVALID_VALUE', `${where}.value must be a string (or a number or boolean), got ${Array.isArray(value) ? 'an array' : typeof value}`);
  }
  if (typeof value === 'string') {
    if (value.length > MAX_TWIN_VALUE) throw err('TWIN_INVALID_VALUE', `${where}.value is ${value.length} characters; at most ${MAX_TWIN_VALUE}`);
    if (/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(value)) throw err('TWIN_INVALID_VALUE', `${where}.value contains control characters`);
  }
  const meta = v.metadata;
  let timestamp                    ;
  if (isObject(meta) && meta.timestamp !== undefined) {
    if (typeof meta.timestamp !== 'number' || !Number.isFinite(meta.timestamp) || meta.timestamp < 0) {
      throw err('TWIN_INVALID_FIELD', `${where}.metadata.timestamp must be a number (ms since the epoch)`);
    }
    timestamp = Math.trunc(meta.timestamp);
  }
  return { value, ...(timestamp !== undefined ? { timestamp } : {}) };
}

/**
 * Parses a `twin/update` payload
 * (`{event_id, timestamp, twin: {<prop>: {actual: {value, metadata: {timestamp}}, expected: {…}, metadata: {type}, …}}}`).
 * Pure; throws DeviceError (TWIN_PAYLOAD_TOO_LARGE, TWIN_BAD_JSON,
 * TWIN_NOT_OBJECT, TWIN_INVALID_FIELD, TWIN_MISSING_TWIN, TWIN_INVALID_KEY,
 * TWIN_INVALID_VALUE). Entries with neither actual nor expected are ignored.
 */
export function parseTwinUpdate(payload            )                    {
  const o = parseObject(payload, false);
  const eventId = baseFields(o);
  const twin = o.twin;
  if (twin === undefined || twin === null) throw err('TWIN_MISSING_TWIN', 'the update has no "twin" object; send {"twin":{"<property>":{"actual":{"value":"…"}}}}');
  if (!isObject(twin)) throw err('TWIN_INVALID_FIELD', `"twin" must be an object mapping property names to twins, got ${Array.isArray(twin) ? 'an array' : typeof twin}`);
  const names = Object.keys(twin);
  if (names.length > MAX_TWINS) throw err('TWIN_INVALID_FIELD', `"twin" has ${names.length} properties; at most ${MAX_TWINS}`);
  const twins = new Map                         ();
  for (const name of names) {
    if (!TWIN_NAME.test(name)) throw err('TWIN_INVALID_KEY', `twin name ${JSON.stringify(name.slice(0, 40))} must be 1..128 of A-Z a-z 0-9 - _ . , : / @ #`);
    const e = twin[name];
    if (e === null) throw err('TWIN_INVALID_VALUE', `twin ${name} is null: deleting a twin from the edge is not supported; remove the property from the Device instead`);
    if (!isObject(e)) throw err('TWIN_INVALID_FIELD', `twin ${name} must be an object with "actual" and/or "expected"`);
    const entry                  = {};
    if (e.actual !== undefined && e.actual !== null) entry.actual = rawValue(e.actual, `twin ${name}.actual`);
    if (e.expected !== undefined && e.expected !== null) entry.expected = rawValue(e.expected, `twin ${name}.expected`);
    if (entry.actual || entry.expected) twins.set(name, entry);
  }
  return { eventId, twins };
}

/** Parses a request whose only content is `{event_id}` (twin/get, state/get, membership/get); an empty payload is fine. */
export function parseGet(payload            )                      {
  return { eventId: baseFields(parseObject(payload, true)) };
}

/** Parses `state/update` (`{event_id, timestamp, state}`); state is one of ok, online, offline, unhealthy, unknown. */
export function parseStateUpdate(payload            )                     {
  const o = parseObject(payload, false);
  const eventId = baseFields(o);
  const s = typeof o.state === 'string' ? o.state.toLowerCase() : o.state;
  if (typeof s !== 'string' || !(DEVICE_STATES                     ).includes(s)) {
    throw err('TWIN_INVALID_STATE', `state must be one of ${DEVICE_STATES.join(', ')}, got ${typeof o.state === 'string' ? JSON.stringify(o.state.slice(0, 40)) : typeof o.state}`);
  }
  return { eventId, state: s                };
}

// ---- results ----

/** A twin as KubeEdge sends it to apps (dttype.MsgTwin, versions left out as in get results). */
                          
                                                                
                                                              
                    
                             
 

/** A device as membership results carry it (dttype.Device). */
                            
             
               
                       
                 
                       
                                 
 

/** A fresh event id (KubeEdge uses a UUID). */
export function newEventId()         {
  return randomUUID();
}

const json = (o         ) => Buffer.from(JSON.stringify(o));

/** `{event_id, timestamp, code, reason, error}` (dttype.Result plus our stable code). */
export function errorResult(eventId        , e             , now        )         {
  return json({ event_id: eventId, timestamp: now, code: resultCode(e.code), reason: e.message, error: e.code });
}

/** twin/update/result and twin/get/result: `{event_id, timestamp, twin}`. */
export function twinResult(eventId        , twin                         , now        )         {
  return json({ event_id: eventId, timestamp: now, twin });
}

/** twin/update/delta: `{event_id, timestamp, twin, delta: {<prop>: <desired value>}}`. */
export function deltaPayload(eventId        , twin                         , delta                        , now        )         {
  return json({ event_id: eventId, timestamp: now, twin, delta });
}

/** twin/update/document: `{event_id, timestamp, twin: {<prop>: {last, current}}}`. */
export function documentPayload(eventId        , docs                                                                   , now        )         {
  return json({ event_id: eventId, timestamp: now, twin: docs });
}

/** state/update/result and state/get/result: `{event_id, timestamp, device: {name, state, last_online}}`. */
export function stateResult(eventId        , device                                                       , now        )         {
  return json({ event_id: eventId, timestamp: now, device });
}

/** membership/get/result: `{event_id, timestamp, devices}`. */
export function membershipResult(eventId        , devices             , now        )         {
  return json({ event_id: eventId, timestamp: now, devices });
}

/** membership/updated: `{event_id, timestamp, added_devices, removed_devices}`. */
export function membershipUpdated(eventId        , added             , removed             , now        )         {
  return json({ event_id: eventId, timestamp: now, added_devices: added, removed_devices: removed });
}
