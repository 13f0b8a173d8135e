// How a Device property maps onto Modbus data, from the KubeEdge modbus
// visitor config (mappers-go ModbusVisitorConfig: register, offset, limit,
// scale, isSwap, isRegisterSwap) and the Device's protocol configData (ip,
// port, slaveID; `tcp: {ip, port}` as in mappers-go's common config), plus
// value decoding/encoding. Pure.
//
// Decoding follows KubeEdge's modbus mapper (TransferData): the register
// bytes are reordered (isRegisterSwap reverses the register order, isSwap
// swaps the two bytes of every register), read big-endian, multiplied by
// scale; INT results are truncated toward zero. Outpost additions, all
// optional: `signed: true` reads two's complement integers (KubeEdge reads
// unsigned only); FLOAT/DOUBLE from 1 register is an integer times scale
// (the common "value × 0.1" sensor) where KubeEdge needs 2/4 registers for
// IEEE floats; `timeout` (ms) in configData. Encoding is the exact inverse.
                                                            
                                                                              
import { MapperError } from '../errors.js';

                                                                      

                                
                       
                                                                       
                 
                                                   
                
                
                  
                          
                  
 

                                 
               
               
               
                    
 

const TABLES                                = {
  coilregister: 'coil', coil: 'coil', coils: 'coil',
  discreteinputregister: 'discrete', discreteinput: 'discrete', discreteinputs: 'discrete', discrete: 'discrete',
  holdingregister: 'holding', holding: 'holding', holdingregisters: 'holding',
  inputregister: 'input', input: 'input', inputregisters: 'input',
};

const invalid = (msg        ) => new MapperError('MAPPER_CONFIG_INVALID', msg);

function num(v         , field        , where        )                     {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw invalid(`${where}: ${field} must be a number, got ${JSON.stringify(v)}`);
  return n;
}

function int(v         , field        , where        , min        , max        )                     {
  const n = num(v, field, where);
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${where}: ${field} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  return n;
}

function bool(v         , field        , where        )          {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw invalid(`${where}: ${field} must be true or false, got ${JSON.stringify(v)}`);
}

/** Registers a type needs when the visitor sets no limit (1 coil; INT 1, FLOAT 2, DOUBLE 4 registers). */
export function defaultLimit(type              , table               )                     {
  if (table === 'coil' || table === 'discrete') return 1;
  switch (type) {
    case 'INT':
    case 'BOOLEAN':
      return 1;
    case 'FLOAT':
      return 2;
    case 'DOUBLE':
      return 4;
    default:
      return undefined;
  }
}

/** The property's visitor. Throws MAPPER_CONFIG_INVALID naming the device, property and field. */
export function parseVisitor(deviceId        , p                  )                {
  const where = `device ${deviceId} property ${p.name} (visitors.configData)`;
  const c = p.visitor.configData;
  const reg = c.register;
  if (typeof reg !== 'string') throw invalid(`${where}: register is required: one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister`);
  const table = TABLES[reg.toLowerCase()];
  if (!table) throw invalid(`${where}: register ${JSON.stringify(reg)} is not one of CoilRegister, DiscreteInputRegister, HoldingRegister, InputRegister`);
  const offset = int(c.offset, 'offset', where, 0, 0xffff) ?? 0;
  const bits = table === 'coil' || table === 'discrete';
  let limit = int(c.limit, 'limit', where, 0, bits ? 2000 : 125) || undefined; // KubeEdge manifests use limit 0 for "default"
  limit ??= defaultLimit(p.type, table);
  if (limit === undefined) throw invalid(`${where}: limit (number of registers) is required for a ${p.type} property`);
  if (offset + limit > 0x10000) throw invalid(`${where}: offset ${offset} + limit ${limit} runs past address 65535`);
  if (!bits && (p.type === 'INT') && ![1, 2, 4].includes(limit)) throw invalid(`${where}: an INT needs limit 1, 2 or 4 registers (16, 32 or 64 bits), got ${limit}`);
  if (!bits && (p.type === 'FLOAT' || p.type === 'DOUBLE') && ![1, 2, 4].includes(limit)) throw invalid(`${where}: a ${p.type} needs limit 1 (integer × scale), 2 (IEEE float32) or 4 (IEEE float64), got ${limit}`);
  if (p.type === 'STREAM') throw new MapperError('MAPPER_UNSUPPORTED', `${where}: STREAM properties are not read over Modbus`);
  const scale = num(c.scale, 'scale', where) ?? 1;
  if (scale === 0) throw invalid(`${where}: scale must not be 0`);
  return { table, offset, limit, scale, isSwap: bool(c.isSwap, 'isSwap', where), isRegisterSwap: bool(c.isRegisterSwap, 'isRegisterSwap', where), signed: bool(c.signed, 'signed', where) };
}

/** The device's connection. Throws MAPPER_CONFIG_INVALID, or MAPPER_UNSUPPORTED for Modbus RTU over a serial line. */
export function parseProtocol(d                )                 {
  const where = `device ${d.id} (protocol.configData)`;
  const c = d.protocolConfig;
  const tcp = (c.tcp && typeof c.tcp === 'object' ? c.tcp : {})                           ;
  const com = (c.com && typeof c.com === 'object' ? c.com : {})                           ;
  if (c.serialPort !== undefined || com.serialPort !== undefined || com.commType === 'serial' || com.commType === 'rtu') {
    throw new MapperError('MAPPER_UNSUPPORTED', `${where}: Modbus RTU over a serial line is not supported by the built-in mapper; use Modbus TCP (ip, port) or a KubeEdge mapper`);
  }
  const host = c.ip ?? c.host ?? tcp.ip ?? tcp.host;
  if (typeof host !== 'string' || host === '') throw invalid(`${where}: ip (the device's address) is required`);
  const port = int(c.port ?? tcp.port, 'port', where, 1, 65535) ?? 502;
  const unit = int(c.slaveID ?? c.slaveId ?? c.unitID, 'slaveID', where, 0, 255) ?? 1;
  const timeoutMs = int(c.timeout, 'timeout', where, 10, 600_000) ?? 1000;
  return { host, port, unit, timeoutMs };
}

function reorder(v               , bytes            )             {
  const out = Uint8Array.from(bytes);
  if (v.isRegisterSwap) {
    const n = out.length / 2;
    for (let i = 0; i < n / 2; i++) {
      const j = n - 1 - i;
      const a0 = out[2 * i] , a1 = out[2 * i + 1] ;
      out[2 * i] = out[2 * j] ;
      out[2 * i + 1] = out[2 * j + 1] ;
      out[2 * j] = a0;
      out[2 * j + 1] = a1;
    }
  }
  if (v.isSwap) {
    for (let i = 0; i + 1 < out.length; i += 2) {
      const t = out[i] ;
      out[i] = out[i + 1] ;
      out[i + 1] = t;
    }
  }
  return out;
}

function round15(x        )         {
  return Number(x.toPrecision(15));
}

function readInt(b          , bytes        , signed         )         {
  switch (bytes) {
    case 2:
      return signed ? b.getInt16(0) : b.getUint16(0);
    case 4:
      return signed ? b.getInt32(0) : b.getUint32(0);
    default:
      return Number(signed ? b.getBigInt64(0) : b.getBigUint64(0));
  }
}

/** Decodes what was read (bits of a coil/discrete read, or register bytes) into a value of `type`. */
export function decodeValue(v               , type              , data                        )                            {
  if (Array.isArray(data)) {
    if (type === 'BOOLEAN' || type === 'STRING') return type === 'BOOLEAN' ? data[0] === true : String(data[0] === true);
    let n = 0;
    data.forEach((b, i) => (n += b ? 2 ** i : 0));
    const x = n * v.scale;
    return type === 'INT' ? Math.trunc(x) : round15(x);
  }
  const bytes = reorder(v, data);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (type) {
    case 'BOOLEAN':
      return bytes.some((b) => b !== 0);
    case 'INT': {
      const x = readInt(dv, bytes.length, v.signed) * v.scale;
      return Math.trunc(v.scale === 1 ? x : round15(x));
    }
    case 'FLOAT':
    case 'DOUBLE': {
      if (bytes.length === 2) return round15(readInt(dv, 2, v.signed) * v.scale);
      if (bytes.length === 4) return round15(Number(dv.getFloat32(0).toPrecision(7)) * v.scale);
      return round15(dv.getFloat64(0) * v.scale);
    }
    case 'BYTES':
      return Buffer.from(bytes).toString('hex');
    default:
      // STRING: bytes as UTF-8, without the NUL/space padding devices add
      return Buffer.from(bytes).toString('utf8').replace(/[\0 ]+$/, '');
  }
}

const valueError = (msg        ) => new MapperError('MAPPER_VALUE_INVALID', msg);

/**
 * Encodes a canonical value for writing: bits for coils, register bytes for
 * holding registers. Throws MAPPER_CONFIG_INVALID for read-only tables and
 * MAPPER_VALUE_INVALID for a value the registers cannot hold.
 */
export function encodeValue(v               , type              , canonical        )                                                  {
  if (v.table === 'discrete' || v.table === 'input') throw invalid(`${v.table === 'input' ? 'InputRegister' : 'DiscreteInputRegister'} is read-only in Modbus; a ReadWrite property must use CoilRegister or HoldingRegister`);
  if (v.table === 'coil') {
    if (type === 'BOOLEAN' || type === 'STRING') return { bits: Array.from({ length: v.limit }, (_, i) => i === 0 && canonical === 'true') };
    const raw = Math.round(Number(canonical) / v.scale);
    if (!Number.isSafeInteger(raw) || raw < 0 || raw >= 2 ** v.limit) throw valueError(`value ${canonical} does not fit ${v.limit} coil(s)`);
    return { bits: Array.from({ length: v.limit }, (_, i) => Math.floor(raw / 2 ** i) % 2 === 1) };
  }
  const n = v.limit * 2;
  const out = new Uint8Array(n);
  const dv = new DataView(out.buffer);
  const putInt = (x        ) => {
    if (!Number.isFinite(x) || !Number.isInteger(x)) throw valueError(`value ${canonical} is not an integer after dividing by scale ${v.scale}`);
    const bits = n * 8;
    const lo = v.signed ? -(2 ** (bits - 1)) : 0;
    const hi = v.signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
    if (x < lo || x > hi) throw valueError(`value ${canonical} is outside ${lo}..${hi}, what ${v.limit} ${v.signed ? 'signed' : 'unsigned'} register(s) hold`);
    if (n === 2) dv.setUint16(0, x < 0 ? x + 0x10000 : x);
    else if (n === 4) dv.setUint32(0, x < 0 ? x + 2 ** 32 : x);
    else dv.setBigUint64(0, BigInt.asUintN(64, BigInt(x)));
  };
  switch (type) {
    case 'BOOLEAN':
      out[n - 1] = canonical === 'true' ? 1 : 0;
      break;
    case 'INT':
      putInt(Math.round(Number(canonical) / v.scale));
      break;
    case 'FLOAT':
    case 'DOUBLE': {
      const x = Number(canonical) / v.scale;
      if (n === 2) putInt(Math.round(x));
      else if (n === 4) dv.setFloat32(0, x);
      else dv.setFloat64(0, x);
      break;
    }
    case 'BYTES': {
      const b = Buffer.from(canonical, 'hex');
      if (b.length > n || !/^([0-9a-fA-F]{2})*$/.test(canonical)) throw valueError(`value must be at most ${n} bytes of hex`);
      out.set(b, 0);
      break;
    }
    default: {
      const b = Buffer.from(canonical, 'utf8');
      if (b.length > n) throw valueError(`string of ${b.length} bytes does not fit ${v.limit} registers (${n} bytes)`);
      out.set(b, 0);
    }
  }
  return { registers: reorder(v, out) };
}
