import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { PropertyType } from '../../devices/coerce.ts';
import { coerceValue } from '../../devices/coerce.ts';
import type { ResolvedDevice, ResolvedProperty } from '../../devices/spec.ts';
import { MapperError } from '../errors.ts';
import { decodeValue, encodeValue, parseProtocol, parseVisitor, type ModbusVisitor } from './visitor.ts';

const prop = (type: PropertyType, configData: Record<string, unknown>, accessMode: 'ReadWrite' | 'ReadOnly' = 'ReadWrite'): ResolvedProperty => ({
  name: 'p', type, accessMode, visitor: { protocolName: 'modbus', configData }, collectCycleMs: 1000, reportCycleMs: 1000, reportToCloud: true, inModel: true,
});
const dev = (protocolConfig: Record<string, unknown>): ResolvedDevice => ({
  id: 'ns/d', key: 'k', namespace: 'ns', name: 'd', modelName: 'm', modelFound: true, protocolName: 'modbus', protocolConfig, properties: [],
  stateReport: { reportToCloud: true, reportCycleMs: 0 }, upstreamCycleMs: 1000,
});
const v = (o: Partial<ModbusVisitor>): ModbusVisitor => ({ table: 'holding', offset: 0, limit: 1, scale: 1, isSwap: false, isRegisterSwap: false, signed: false, ...o });
const h = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MapperError) return e.code;
    throw e;
  }
  return undefined;
}

describe('visitor config (KubeEdge modbus visitor)', () => {
  it('reads the KubeEdge fields and defaults the limit by type', () => {
    expect(parseVisitor('ns/d', prop('FLOAT', { register: 'HoldingRegister', offset: 3, limit: 0, scale: 0.1, isSwap: true, isRegisterSwap: 'true' }))).toEqual({
      table: 'holding', offset: 3, limit: 2, scale: 0.1, isSwap: true, isRegisterSwap: true, signed: false,
    });
    expect(parseVisitor('ns/d', prop('BOOLEAN', { register: 'CoilRegister', offset: '7' })).table).toBe('coil');
    expect(parseVisitor('ns/d', prop('INT', { register: 'InputRegister' })).limit).toBe(1);
    expect(parseVisitor('ns/d', prop('DOUBLE', { register: 'DiscreteInputRegister' })).limit).toBe(1);
  });

  it.each<[string, ResolvedProperty, string]>([
    ['no register', prop('INT', {}), 'MAPPER_CONFIG_INVALID'],
    ['unknown register', prop('INT', { register: 'MagicRegister' }), 'MAPPER_CONFIG_INVALID'],
    ['negative offset', prop('INT', { register: 'HoldingRegister', offset: -1 }), 'MAPPER_CONFIG_INVALID'],
    ['offset not a number', prop('INT', { register: 'HoldingRegister', offset: 'x' }), 'MAPPER_CONFIG_INVALID'],
    ['INT over 3 registers', prop('INT', { register: 'HoldingRegister', limit: 3 }), 'MAPPER_CONFIG_INVALID'],
    ['STRING without limit', prop('STRING', { register: 'HoldingRegister' }), 'MAPPER_CONFIG_INVALID'],
    ['scale 0', prop('INT', { register: 'HoldingRegister', scale: 0 }), 'MAPPER_CONFIG_INVALID'],
    ['past the address space', prop('INT', { register: 'HoldingRegister', offset: 65535, limit: 2 }), 'MAPPER_CONFIG_INVALID'],
    ['isSwap not a boolean', prop('INT', { register: 'HoldingRegister', isSwap: 'yes' }), 'MAPPER_CONFIG_INVALID'],
    ['STREAM', prop('STREAM', { register: 'HoldingRegister', limit: 2 }), 'MAPPER_UNSUPPORTED'],
  ])('refuses %s', (_n, p, want) => {
    expect(codeOf(() => parseVisitor('ns/d', p))).toBe(want);
  });

  it('reads the protocol config', () => {
    expect(parseProtocol(dev({ ip: '10.0.0.5', port: 1502, slaveID: 3 }))).toEqual({ host: '10.0.0.5', port: 1502, unit: 3, timeoutMs: 1000 });
    expect(parseProtocol(dev({ tcp: { ip: 'plc', port: '502' }, timeout: 250 }))).toEqual({ host: 'plc', port: 502, unit: 1, timeoutMs: 250 });
    expect(codeOf(() => parseProtocol(dev({})))).toBe('MAPPER_CONFIG_INVALID');
    expect(codeOf(() => parseProtocol(dev({ ip: 'x', port: 70000 })))).toBe('MAPPER_CONFIG_INVALID');
    expect(codeOf(() => parseProtocol(dev({ com: { commType: 'serial', serialPort: '/dev/ttyS0' } })))).toBe('MAPPER_UNSUPPORTED');
  });
});

describe('decoding (as KubeEdge TransferData)', () => {
  it.each<[string, ModbusVisitor, PropertyType, Uint8Array | boolean[], unknown]>([
    ['uint16', v({}), 'INT', h('00ff'), 255],
    ['uint16 scaled and truncated', v({ scale: 0.1 }), 'INT', h('00d7'), 21],
    ['int16 signed (Outpost)', v({ signed: true }), 'INT', h('fff6'), -10],
    ['uint32', v({ limit: 2 }), 'INT', h('0001 0000'), 65536],
    ['uint32 register swap', v({ limit: 2, isRegisterSwap: true }), 'INT', h('0000 0001'), 65536],
    ['byte swap', v({ isSwap: true }), 'INT', h('ff00'), 255],
    ['float32', v({ limit: 2 }), 'FLOAT', h('41ac 0000'), 21.5],
    ['float32 word-swapped', v({ limit: 2, isRegisterSwap: true }), 'FLOAT', h('0000 41ac'), 21.5],
    ['float32 0.1 keeps 7 digits', v({ limit: 2 }), 'FLOAT', h('3dcc cccd'), 0.1],
    ['FLOAT from 1 register × scale (Outpost)', v({ scale: 0.1 }), 'FLOAT', h('00d7'), 21.5],
    ['float64', v({ limit: 4 }), 'DOUBLE', h('4035 8000 0000 0000'), 21.5],
    ['boolean register', v({}), 'BOOLEAN', h('0001'), true],
    ['string', v({ limit: 3 }), 'STRING', h('6869 2100 0000'), 'hi!'],
    ['coil', v({ table: 'coil' }), 'BOOLEAN', [true], true],
    ['coils as int', v({ table: 'coil', limit: 3 }), 'INT', [true, false, true], 5],
  ])('%s', (_n, vis, type, data, want) => {
    expect(decodeValue(vis, type, data)).toEqual(want);
  });
});

describe('encoding is the inverse of decoding', () => {
  it.each<[string, ModbusVisitor, PropertyType, string, string]>([
    ['uint16', v({}), 'INT', '255', '00ff'],
    ['scaled', v({ scale: 0.1 }), 'FLOAT', '21.5', '00d7'],
    ['signed', v({ signed: true }), 'INT', '-10', 'fff6'],
    ['float32 swapped', v({ limit: 2, isRegisterSwap: true, isSwap: true }), 'FLOAT', '21.5', '0000ac41'],
    ['string padded', v({ limit: 2 }), 'STRING', 'ab', '61620000'],
    ['boolean register', v({}), 'BOOLEAN', 'true', '0001'],
  ])('%s', (_n, vis, type, value, wire) => {
    const enc = encodeValue(vis, type, value) as { registers: Uint8Array };
    expect(Buffer.from(enc.registers).toString('hex')).toBe(wire);
    expect(String(decodeValue(vis, type, enc.registers))).toBe(value);
  });

  it('encodes coils', () => {
    expect(encodeValue(v({ table: 'coil' }), 'BOOLEAN', 'true')).toEqual({ bits: [true] });
    expect(encodeValue(v({ table: 'coil', limit: 3 }), 'INT', '5')).toEqual({ bits: [true, false, true] });
  });

  it.each<[string, ModbusVisitor, PropertyType, string, string]>([
    ['input registers are read-only', v({ table: 'input' }), 'INT', '1', 'MAPPER_CONFIG_INVALID'],
    ['discrete inputs are read-only', v({ table: 'discrete' }), 'BOOLEAN', 'true', 'MAPPER_CONFIG_INVALID'],
    ['negative into unsigned', v({}), 'INT', '-1', 'MAPPER_VALUE_INVALID'],
    ['too large for 16 bits', v({}), 'INT', '65536', 'MAPPER_VALUE_INVALID'],
    ['string too long', v({ limit: 1 }), 'STRING', 'abc', 'MAPPER_VALUE_INVALID'],
    ['too large for 2 coils', v({ table: 'coil', limit: 2 }), 'INT', '4', 'MAPPER_VALUE_INVALID'],
  ])('refuses: %s', (_n, vis, type, value, want) => {
    expect(codeOf(() => encodeValue(vis, type, value))).toBe(want);
  });

  it('round-trips integers and floats for every swap combination (fast-check)', () => {
    fc.assert(fc.property(
      fc.boolean(), fc.boolean(), fc.constantFrom(1, 2, 4), fc.boolean(), fc.integer({ min: -32768, max: 32767 }),
      (isSwap, isRegisterSwap, limit, signed, n) => {
        const vis = v({ isSwap, isRegisterSwap, limit, signed });
        if (!signed && n < 0) return;
        const enc = encodeValue(vis, 'INT', String(n)) as { registers: Uint8Array };
        expect(decodeValue(vis, 'INT', enc.registers)).toBe(n);
        const fvis = v({ isSwap, isRegisterSwap, limit: limit === 1 ? 2 : limit });
        const x = Number((n / 8).toFixed(3));
        const fenc = encodeValue(fvis, 'DOUBLE', coerceValue('DOUBLE', x)) as { registers: Uint8Array };
        expect(decodeValue(fvis, 'DOUBLE', fenc.registers)).toBeCloseTo(x, 3);
      },
    ), { numRuns: 1000 });
  });
});
