import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MapperError } from '../errors.ts';
import { aduLength, decodeRequest, decodeResponse, encodeRequest, encodeResponse, type ModbusRequest, type ModbusResponse } from './frame.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const h = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MapperError) return e.code;
    throw e;
  }
  return undefined;
}

describe('Modbus TCP frames: golden vectors (Modbus Application Protocol spec examples)', () => {
  it.each<[string, ModbusRequest, string]>([
    ['read coils 20..38', { fc: 1, address: 19, quantity: 19 }, '0001 0000 0006 11 01 0013 0013'],
    ['read discrete inputs', { fc: 2, address: 196, quantity: 22 }, '0001 0000 0006 11 02 00c4 0016'],
    ['read holding registers 108..110', { fc: 3, address: 107, quantity: 3 }, '0001 0000 0006 11 03 006b 0003'],
    ['read input register 9', { fc: 4, address: 8, quantity: 1 }, '0001 0000 0006 11 04 0008 0001'],
    ['write single coil 173 on', { fc: 5, address: 172, value: true }, '0001 0000 0006 11 05 00ac ff00'],
    ['write single register 2 = 3', { fc: 6, address: 1, value: 3 }, '0001 0000 0006 11 06 0001 0003'],
    ['write 10 coils from 20', { fc: 15, address: 19, values: [true, false, true, true, false, false, true, true, true, false] }, '0001 0000 0009 11 0f 0013 000a 02 cd 01'],
    ['write 2 registers from 2', { fc: 16, address: 1, values: h('000a 0102') }, '0001 0000 000b 11 10 0001 0002 04 000a 0102'],
  ])('%s', (_n, req, wire) => {
    const bytes = encodeRequest(1, 0x11, req);
    expect(hex(bytes)).toBe(wire.replace(/\s+/g, ''));
    expect(decodeRequest(bytes)).toEqual({ tid: 1, unit: 0x11, pdu: req.fc === 16 ? { ...req, values: Uint8Array.from(req.values) } : req });
  });

  it.each<[string, ModbusRequest, ModbusResponse, string]>([
    ['coils', { fc: 1, address: 19, quantity: 19 }, { fc: 1, bits: [true, false, true, true, false, false, true, true, true, true, false, true, false, true, true, false, true, false, true] }, '0007 0000 0006 11 01 03 cd 6b 05'],
    ['holding registers', { fc: 3, address: 107, quantity: 3 }, { fc: 3, registers: h('022b 0000 0064') }, '0007 0000 0009 11 03 06 022b00000064'],
    ['single coil echo', { fc: 5, address: 172, value: true }, { fc: 5, address: 172, value: true }, '0007 0000 0006 11 05 00ac ff00'],
    ['multiple registers echo', { fc: 16, address: 1, values: h('000a0102') }, { fc: 16, address: 1, quantity: 2 }, '0007 0000 0006 11 10 0001 0002'],
    ['exception 2', { fc: 3, address: 107, quantity: 3 }, { fc: 3, exception: 2 }, '0007 0000 0003 11 83 02'],
  ])('response: %s', (_n, req, res, wire) => {
    const bytes = encodeResponse(7, 0x11, res);
    expect(hex(bytes)).toBe(wire.replace(/\s+/g, ''));
    const back = decodeResponse(bytes, req);
    expect(back.tid).toBe(7);
    expect(back.pdu).toEqual('registers' in res ? { ...res, registers: Uint8Array.from(res.registers) } : res);
  });
});

describe('malformed frames', () => {
  const req3: ModbusRequest = { fc: 3, address: 0, quantity: 2 };
  it.each<[string, Buffer, string]>([
    ['protocol id 1', h('0001 0001 0006 01 03 0000 0001'), 'MODBUS_BAD_PROTOCOL_ID'],
    ['length 1', h('0001 0000 0001 01'), 'MODBUS_BAD_LENGTH'],
    ['length 300', h('0001 0000 012c 01 03'), 'MODBUS_BAD_LENGTH'],
    ['shorter than the header says', h('0001 0000 0006 01 03 0000'), 'MODBUS_TRUNCATED'],
    ['longer than the header says', h('0001 0000 0006 01 03 0000 0001 ff'), 'MODBUS_BAD_LENGTH'],
    ['only 4 bytes', h('0001 0000'), 'MODBUS_TRUNCATED'],
    ['unknown function 0x2b', h('0001 0000 0006 01 2b 0000 0001'), 'MODBUS_UNKNOWN_FUNCTION'],
    ['read quantity 0', h('0001 0000 0006 01 03 0000 0000'), 'MODBUS_INVALID_REQUEST'],
    ['read 126 registers', h('0001 0000 0006 01 03 0000 007e'), 'MODBUS_INVALID_REQUEST'],
    ['read past 65535', h('0001 0000 0006 01 03 ffff 0002'), 'MODBUS_INVALID_REQUEST'],
    ['coil value 0x1234', h('0001 0000 0006 01 05 0000 1234'), 'MODBUS_INVALID_REQUEST'],
    ['FC16 byte count mismatch', h('0001 0000 0009 01 10 0000 0002 02 0001'), 'MODBUS_INVALID_REQUEST'],
    ['FC16 PDU shorter than its byte count', h('0001 0000 0009 01 10 0000 0002 04 0001'), 'MODBUS_BAD_LENGTH'],
  ])('request: %s → %s', (_n, bytes, want) => {
    expect(codeOf(() => decodeRequest(bytes))).toBe(want);
  });

  it.each<[string, Buffer, string]>([
    ['wrong function', h('0001 0000 0007 01 04 04 0000 0000'), 'MODBUS_BAD_RESPONSE'],
    ['wrong byte count', h('0001 0000 0005 01 03 02 0000'), 'MODBUS_BAD_RESPONSE'],
    ['byte count beyond the PDU', h('0001 0000 0005 01 03 04 0000'), 'MODBUS_BAD_LENGTH'],
    ['exception without code', h('0001 0000 0002 01 83'), 'MODBUS_BAD_LENGTH'],
  ])('response: %s → %s', (_n, bytes, want) => {
    expect(codeOf(() => decodeResponse(bytes, req3))).toBe(want);
  });

  it('refuses requests it cannot encode', () => {
    expect(codeOf(() => encodeRequest(1, 1, { fc: 3, address: 0, quantity: 200 }))).toBe('MODBUS_INVALID_REQUEST');
    expect(codeOf(() => encodeRequest(1, 1, { fc: 16, address: 0, values: new Uint8Array(3) }))).toBe('MODBUS_INVALID_REQUEST');
    expect(codeOf(() => encodeRequest(1, 300, { fc: 3, address: 0, quantity: 1 }))).toBe('MODBUS_INVALID_REQUEST');
    expect(codeOf(() => encodeRequest(70000, 1, { fc: 3, address: 0, quantity: 1 }))).toBe('MODBUS_INVALID_REQUEST');
  });

  it('aduLength waits for the header', () => {
    expect(aduLength(h('0001 0000 00'))).toBeUndefined();
    expect(aduLength(h('0001 0000 0006'))).toBe(12);
  });
});

describe('property tests', () => {
  const requestArb: fc.Arbitrary<ModbusRequest> = fc.oneof(
    fc.record({ fc: fc.constantFrom<1 | 2>(1, 2), address: fc.integer({ min: 0, max: 60000 }), quantity: fc.integer({ min: 1, max: 2000 }) }),
    fc.record({ fc: fc.constantFrom<3 | 4>(3, 4), address: fc.integer({ min: 0, max: 60000 }), quantity: fc.integer({ min: 1, max: 125 }) }),
    fc.record({ fc: fc.constant<5>(5), address: fc.integer({ min: 0, max: 65535 }), value: fc.boolean() }),
    fc.record({ fc: fc.constant<6>(6), address: fc.integer({ min: 0, max: 65535 }), value: fc.integer({ min: 0, max: 65535 }) }),
    fc.record({ fc: fc.constant<15>(15), address: fc.integer({ min: 0, max: 60000 }), values: fc.array(fc.boolean(), { minLength: 1, maxLength: 1968 }) }),
    fc.integer({ min: 1, max: 123 }).chain((n) => fc.record({ fc: fc.constant<16>(16), address: fc.integer({ min: 0, max: 60000 }), values: fc.uint8Array({ minLength: 2 * n, maxLength: 2 * n }) })),
  );

  it('request round trip: decode(encode(r)) = r', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 255 }), requestArb, (tid, unit, r) => {
      const back = decodeRequest(encodeRequest(tid, unit, r));
      expect(back.tid).toBe(tid);
      expect(back.unit).toBe(unit);
      expect(back.pdu).toEqual(r);
    }), { numRuns: 2000 });
  });

  it('decoders never throw anything but MapperError on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), requestArb, (bytes, req) => {
      for (const f of [() => decodeRequest(bytes), () => decodeResponse(bytes, req), () => aduLength(bytes)]) {
        try {
          f();
        } catch (e) {
          if (!(e instanceof MapperError)) throw e;
        }
      }
    }), { numRuns: 5000 });
  });
});
