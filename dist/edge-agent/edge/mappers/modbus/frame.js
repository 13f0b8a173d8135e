// Modbus TCP application data units (Modbus Application Protocol v1.1b3 and
// Modbus Messaging on TCP/IP v1.0b): a 7-byte MBAP header (transaction id,
// protocol id 0, length of what follows, unit id) and a PDU for function
// codes 1, 2, 3, 4 (reads), 5, 6 (single writes), 15, 16 (multiple writes),
// or an exception answer (function code | 0x80, exception code). Pure: no
// I/O. Every malformed input throws MapperError with a MODBUS_* code; both
// directions are here so the client and the test simulator share one codec.
import { MapperError } from '../errors.js';

                                   

                           
                                                     
                                              
                                             
                                                  
                                                    

                            
                                  
                                        
                                              
                                             
                                                      
                                      

/** An application data unit: MBAP fields plus the PDU. */
                         
              
               
         
 

export const MBAP_BYTES = 7;
/** Largest PDU (Modbus over serial line limit, kept for TCP). */
export const MAX_PDU_BYTES = 253;
/** Largest ADU: 7 + 253 = 260 bytes. */
export const MAX_ADU_BYTES = MBAP_BYTES + MAX_PDU_BYTES;

/** Quantity limits per function code (Modbus spec §6). */
export const LIMITS = { readBits: 2000, readRegisters: 125, writeBits: 1968, writeRegisters: 123 }         ;

export const EXCEPTIONS                         = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  8: 'memory parity error',
  10: 'gateway path unavailable',
  11: 'gateway target device failed to respond',
};

const bad = (code                                                                                                                                                    , msg        ) => new MapperError(code, msg);

function u16(v        , what        )         {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw bad('MODBUS_INVALID_REQUEST', `${what} must be an integer in 0..65535, got ${v}`);
  return v;
}

function checkRange(address        , quantity        , max        )       {
  u16(address, 'address');
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > max) throw bad('MODBUS_INVALID_REQUEST', `quantity must be 1..${max}, got ${quantity}`);
  if (address + quantity > 0x10000) throw bad('MODBUS_INVALID_REQUEST', `address ${address} + quantity ${quantity} runs past 65535`);
}

function packBits(bits           )         {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3]  |= 1 << (i & 7);
  });
  return out;
}

function unpackBits(bytes            , n        )            {
  const out            = [];
  for (let i = 0; i < n; i++) out.push(((bytes[i >> 3]  >> (i & 7)) & 1) === 1);
  return out;
}

function adu(tid        , unit        , pdu        )         {
  u16(tid, 'transaction id');
  if (!Number.isInteger(unit) || unit < 0 || unit > 255) throw bad('MODBUS_INVALID_REQUEST', `unit id must be 0..255, got ${unit}`);
  if (pdu.length > MAX_PDU_BYTES) throw bad('MODBUS_INVALID_REQUEST', `PDU of ${pdu.length} bytes exceeds ${MAX_PDU_BYTES}`);
  const h = Buffer.alloc(MBAP_BYTES);
  h.writeUInt16BE(tid, 0);
  h.writeUInt16BE(0, 2);
  h.writeUInt16BE(pdu.length + 1, 4);
  h.writeUInt8(unit, 6);
  return Buffer.concat([h, pdu]);
}

/** Builds a request ADU. Pure; throws MODBUS_INVALID_REQUEST for out-of-range fields. */
export function encodeRequest(tid        , unit        , r               )         {
  let pdu        ;
  switch (r.fc) {
    case 1:
    case 2:
    case 3:
    case 4:
      checkRange(r.address, r.quantity, r.fc <= 2 ? LIMITS.readBits : LIMITS.readRegisters);
      pdu = Buffer.from([r.fc, r.address >> 8, r.address & 0xff, r.quantity >> 8, r.quantity & 0xff]);
      break;
    case 5:
      u16(r.address, 'address');
      pdu = Buffer.from([5, r.address >> 8, r.address & 0xff, r.value ? 0xff : 0, 0]);
      break;
    case 6:
      u16(r.address, 'address');
      u16(r.value, 'register value');
      pdu = Buffer.from([6, r.address >> 8, r.address & 0xff, r.value >> 8, r.value & 0xff]);
      break;
    case 15: {
      checkRange(r.address, r.values.length, LIMITS.writeBits);
      const bytes = packBits(r.values);
      pdu = Buffer.concat([Buffer.from([15, r.address >> 8, r.address & 0xff, r.values.length >> 8, r.values.length & 0xff, bytes.length]), bytes]);
      break;
    }
    case 16: {
      if (r.values.length % 2 !== 0) throw bad('MODBUS_INVALID_REQUEST', `register data must be whole registers (an even byte count), got ${r.values.length} bytes`);
      const n = r.values.length / 2;
      checkRange(r.address, n, LIMITS.writeRegisters);
      pdu = Buffer.concat([Buffer.from([16, r.address >> 8, r.address & 0xff, n >> 8, n & 0xff, r.values.length]), Buffer.from(r.values)]);
      break;
    }
  }
  return adu(tid, unit, pdu);
}

/** Builds a response ADU (the simulator's side). Pure. */
export function encodeResponse(tid        , unit        , r                )         {
  if ('exception' in r) return adu(tid, unit, Buffer.from([(r.fc | 0x80) & 0xff, r.exception]));
  switch (r.fc) {
    case 1:
    case 2: {
      const bytes = packBits(r.bits);
      return adu(tid, unit, Buffer.concat([Buffer.from([r.fc, bytes.length]), bytes]));
    }
    case 3:
    case 4:
      return adu(tid, unit, Buffer.concat([Buffer.from([r.fc, r.registers.length]), Buffer.from(r.registers)]));
    case 5:
      return adu(tid, unit, Buffer.from([5, r.address >> 8, r.address & 0xff, r.value ? 0xff : 0, 0]));
    case 6:
      return adu(tid, unit, Buffer.from([6, r.address >> 8, r.address & 0xff, r.value >> 8, r.value & 0xff]));
    case 15:
    case 16:
      return adu(tid, unit, Buffer.from([r.fc, r.address >> 8, r.address & 0xff, r.quantity >> 8, r.quantity & 0xff]));
  }
  throw bad('MODBUS_UNKNOWN_FUNCTION', `cannot encode a response for function code ${(r                  ).fc}`);
}

/**
 * Length of the ADU at the start of `buf` once its MBAP header is there,
 * undefined while fewer than 6 bytes are buffered. Throws
 * MODBUS_BAD_PROTOCOL_ID (not Modbus: the stream cannot be resynchronised)
 * or MODBUS_BAD_LENGTH.
 */
export function aduLength(buf            )                     {
  if (buf.length < 6) return undefined;
  const pid = (buf[2]  << 8) | buf[3] ;
  if (pid !== 0) throw bad('MODBUS_BAD_PROTOCOL_ID', `MBAP protocol id is ${pid}, not 0: the peer does not speak Modbus TCP`);
  const len = (buf[4]  << 8) | buf[5] ;
  if (len < 2 || len > MAX_PDU_BYTES + 1) throw bad('MODBUS_BAD_LENGTH', `MBAP length ${len} is outside 2..${MAX_PDU_BYTES + 1}`);
  return 6 + len;
}

function header(buf            )                                             {
  const n = aduLength(buf);
  if (n === undefined || buf.length < n) throw bad('MODBUS_TRUNCATED', `ADU of ${buf.length} bytes is shorter than its header says (${n ?? 'at least 8'})`);
  if (buf.length > n) throw bad('MODBUS_BAD_LENGTH', `ADU of ${buf.length} bytes is longer than its header says (${n})`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return { tid: b.readUInt16BE(0), unit: b[6] , pdu: b.subarray(7) };
}

function need(pdu        , n        , what        )       {
  if (pdu.length !== n) throw bad('MODBUS_BAD_LENGTH', `${what}: PDU must be ${n} bytes, got ${pdu.length}`);
}

/**
 * Parses one request ADU (exactly one). Pure. Throws MODBUS_TRUNCATED,
 * MODBUS_BAD_PROTOCOL_ID, MODBUS_BAD_LENGTH, MODBUS_UNKNOWN_FUNCTION (the
 * caller answers exception 1) or MODBUS_INVALID_REQUEST (exception 3).
 */
export function decodeRequest(buf            )                     {
  const { tid, unit, pdu } = header(buf);
  const fc = pdu[0] ;
  const address = pdu.length >= 3 ? pdu.readUInt16BE(1) : 0;
  let req               ;
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4: {
      need(pdu, 5, `function ${fc}`);
      const quantity = pdu.readUInt16BE(3);
      checkRange(address, quantity, fc <= 2 ? LIMITS.readBits : LIMITS.readRegisters);
      req = { fc, address, quantity };
      break;
    }
    case 5: {
      need(pdu, 5, 'function 5');
      const v = pdu.readUInt16BE(3);
      if (v !== 0xff00 && v !== 0) throw bad('MODBUS_INVALID_REQUEST', `function 5 value must be 0xFF00 or 0x0000, got 0x${v.toString(16)}`);
      req = { fc, address, value: v === 0xff00 };
      break;
    }
    case 6:
      need(pdu, 5, 'function 6');
      req = { fc, address, value: pdu.readUInt16BE(3) };
      break;
    case 15:
    case 16: {
      if (pdu.length < 6) throw bad('MODBUS_BAD_LENGTH', `function ${fc}: PDU too short (${pdu.length} bytes)`);
      const quantity = pdu.readUInt16BE(3);
      const count = pdu[5] ;
      need(pdu, 6 + count, `function ${fc}`);
      const expectBytes = fc === 15 ? Math.ceil(quantity / 8) : quantity * 2;
      if (count !== expectBytes) throw bad('MODBUS_INVALID_REQUEST', `function ${fc}: byte count ${count} does not match quantity ${quantity}`);
      checkRange(address, quantity, fc === 15 ? LIMITS.writeBits : LIMITS.writeRegisters);
      const data = pdu.subarray(6);
      req = fc === 15 ? { fc, address, values: unpackBits(data, quantity) } : { fc, address, values: Uint8Array.from(data) };
      break;
    }
    default:
      throw Object.assign(bad('MODBUS_UNKNOWN_FUNCTION', `function code ${fc} is not supported`), { tid, unit, fc });
  }
  return { tid, unit, pdu: req };
}

/**
 * Parses one response ADU and checks it answers `req` (function code, byte
 * count or echoed address/quantity). Pure. An exception answer is returned
 * as `{fc, exception}`, not thrown. Throws MODBUS_TRUNCATED,
 * MODBUS_BAD_PROTOCOL_ID, MODBUS_BAD_LENGTH or MODBUS_BAD_RESPONSE.
 */
export function decodeResponse(buf            , req               )                      {
  const { tid, unit, pdu } = header(buf);
  const fc = pdu[0] ;
  if (fc === (req.fc | 0x80)) {
    need(pdu, 2, 'exception');
    return { tid, unit, pdu: { fc: req.fc, exception: pdu[1]  } };
  }
  if (fc !== req.fc) throw bad('MODBUS_BAD_RESPONSE', `response function code ${fc} does not answer request function ${req.fc}`);
  switch (req.fc) {
    case 1:
    case 2:
    case 3:
    case 4: {
      if (pdu.length < 2) throw bad('MODBUS_BAD_LENGTH', `function ${fc}: PDU too short`);
      const count = pdu[1] ;
      need(pdu, 2 + count, `function ${fc}`);
      const expect = req.fc <= 2 ? Math.ceil(req.quantity / 8) : req.quantity * 2;
      if (count !== expect) throw bad('MODBUS_BAD_RESPONSE', `function ${fc}: ${count} data bytes for a request of ${req.quantity} (expected ${expect})`);
      const data = pdu.subarray(2);
      return { tid, unit, pdu: req.fc <= 2 ? { fc: req.fc         , bits: unpackBits(data, req.quantity) } : { fc: req.fc         , registers: Uint8Array.from(data) } };
    }
    case 5:
    case 6: {
      need(pdu, 5, `function ${fc}`);
      const address = pdu.readUInt16BE(1);
      const v = pdu.readUInt16BE(3);
      if (address !== req.address) throw bad('MODBUS_BAD_RESPONSE', `function ${fc}: echoed address ${address}, requested ${req.address}`);
      return { tid, unit, pdu: req.fc === 5 ? { fc: 5, address, value: v === 0xff00 } : { fc: 6, address, value: v } };
    }
    case 15:
    case 16: {
      need(pdu, 5, `function ${fc}`);
      const address = pdu.readUInt16BE(1);
      const quantity = pdu.readUInt16BE(3);
      const want = req.fc === 15 ? req.values.length : req.values.length / 2;
      if (address !== req.address || quantity !== want) throw bad('MODBUS_BAD_RESPONSE', `function ${fc}: echoed ${address}/${quantity}, requested ${req.address}/${want}`);
      return { tid, unit, pdu: { fc: req.fc, address, quantity } };
    }
  }
}

/** Human-readable text for an exception code. */
export function exceptionText(code        )         {
  return EXCEPTIONS[code] ?? `exception ${code}`;
}
