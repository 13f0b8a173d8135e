import { describe, expect, it } from 'vitest';
import type { Device, DeviceModel } from '../../api/index.ts';
import { staticLookups, type StaticObjects } from '../lookups.ts';
import { validateDevice } from './validate.ts';
import { parseValue } from './values.ts';

const model: DeviceModel = {
  apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { name: 'thermostat', namespace: 'ns' },
  spec: {
    protocol: 'modbus',
    properties: [
      { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly', minimum: '-40', maximum: '125' },
      { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
      { name: 'heater', type: 'BOOLEAN', accessMode: 'ReadWrite' },
      { name: 'gain', type: 'DOUBLE', accessMode: 'ReadWrite', maximum: '2.5' },
      { name: 'label', type: 'STRING', accessMode: 'ReadWrite' },
    ],
  },
};
const edgeNode = { metadata: { name: 'edge-1', labels: { 'node-role.kubernetes.io/edge': '' } } };
const cloudNode = { metadata: { name: 'cloud-1', labels: {} } };
const world: StaticObjects = { deviceModels: [model], nodes: [edgeNode, cloudNode] };

function device(spec: Partial<Device['spec']> = {}): Device {
  return { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name: 'd1', namespace: 'ns' }, spec: { deviceModelRef: { name: 'thermostat' }, ...spec } };
}
const create = (d: Device, objs: StaticObjects = world) => validateDevice({ operation: 'CREATE', object: d, namespace: 'ns', lookups: staticLookups(objs) });
const desired = (name: string, value: string) => ({ properties: [{ name, desired: { value } }] });

describe('parseValue', () => {
  it.each([
    ['INT', '42', true], ['INT', '-7', true], ['INT', '+3', true], ['INT', '4.2', false], ['INT', 'abc', false], ['INT', '', false],
    ['INT', '9223372036854775807', true], ['INT', '9223372036854775808', false],
    ['FLOAT', '21.5', true], ['FLOAT', '1e3', true], ['FLOAT', '.5', true], ['FLOAT', 'NaN', false], ['FLOAT', '1e39', false], ['DOUBLE', '1e39', true], ['DOUBLE', 'Infinity', false],
    ['BOOLEAN', 'true', true], ['BOOLEAN', 'F', true], ['BOOLEAN', '1', true], ['BOOLEAN', 'yes', false],
    ['STRING', 'anything', true], ['BYTES', '%%%', true], ['STREAM', '', true],
  ] as const)('%s %j → %s', (type, value, ok) => expect(parseValue(type, value).ok).toBe(ok));
});

describe('validateDevice', () => {
  it('allows a valid device', () => {
    const r = create(device({ nodeName: 'edge-1', protocol: { protocolName: 'modbus' }, properties: [
      { name: 'temperature', visitors: { protocolName: 'modbus' } }, { name: 'setpoint', desired: { value: '21' } },
      { name: 'heater', desired: { value: 'true' } }, { name: 'label', desired: { value: 'hall' } },
    ], methods: [{ name: 'm', propertyNames: ['setpoint', 'heater'] }] }));
    expect(r).toEqual({ allowed: true, warnings: [], violations: [] });
  });

  it('denies a missing DeviceModel and says how to fix it', () => {
    const r = create(device({ deviceModelRef: { name: 'nope' } }));
    expect(r.allowed).toBe(false);
    expect(r.message).toBe('spec.deviceModelRef.name: DeviceModel "nope" does not exist in namespace "ns"; create the DeviceModel first or correct the name');
  });

  it('looks up the model in the device namespace only', () => {
    const r = validateDevice({ operation: 'CREATE', object: { ...device(), metadata: { name: 'd', namespace: 'other' } }, namespace: 'other', lookups: staticLookups(world) });
    expect(r.violations.map((v) => v.code)).toEqual(['DEVICE_MODEL_NOT_FOUND']);
  });

  it('denies a property the model does not define, listing the ones it does', () => {
    const r = create(device({ properties: [{ name: 'temperature' }, { name: 'humidity' }] }));
    expect(r.message).toContain('spec.properties[1].name: property "humidity" is not defined in DeviceModel "thermostat" (it defines "temperature", "setpoint", "heater", "gain", "label")');
  });

  it('denies a protocol that differs from the model', () => {
    expect(create(device({ protocol: { protocolName: 'opcua' } })).message).toBe(
      'spec.protocol.protocolName: "opcua" does not match protocol "modbus" of DeviceModel "thermostat"; use "modbus" or refer to a DeviceModel for opcua');
  });

  it('denies a visitor protocol that differs from the device protocol', () => {
    const r = create(device({ properties: [{ name: 'temperature', visitors: { protocolName: 'bluetooth' } }] }));
    expect(r.violations.map((v) => [v.code, v.field])).toEqual([['DEVICE_VISITOR_PROTOCOL_MISMATCH', 'spec.properties[0].visitors.protocolName']]);
  });

  it.each([
    ['setpoint', 'abc', 'spec.properties[0].desired.value: "abc" is not a valid INT for property "setpoint"; use an integer like "42"'],
    ['setpoint', '21.5', 'is not a valid INT'],
    ['setpoint', '2', '"2" is below the minimum "5" of property "setpoint"; use a value from 5 to 35'],
    ['setpoint', '36', '"36" is above the maximum "35" of property "setpoint"; use a value from 5 to 35'],
    ['heater', 'on', '"on" is not a valid BOOLEAN for property "heater"; use "true" or "false"'],
    ['gain', '3', '"3" is above the maximum "2.5" of property "gain"; use a value of at most 2.5'],
    ['gain', 'x1', 'use a decimal number like "21.5"'],
    ['temperature', '20', 'spec.properties[0].desired: property "temperature" is ReadOnly in DeviceModel "thermostat"; remove desired'],
  ])('denies desired %s=%j', (prop, value, fragment) => {
    const r = create(device(desired(prop, value)));
    expect(r.allowed).toBe(false);
    expect(r.message).toContain(fragment);
  });

  it('accepts values on the bounds and lenient types', () => {
    for (const [p, v] of [['setpoint', '5'], ['setpoint', '35'], ['gain', '2.5'], ['label', '']]) expect(create(device(desired(p!, v!))).allowed).toBe(true);
  });

  it('denies a method naming an unknown property', () => {
    const r = create(device({ methods: [{ name: 'm', propertyNames: ['setpoint', 'fan'] }] }));
    expect(r.violations.map((v) => v.field)).toEqual(['spec.methods[0].propertyNames[1]']);
  });

  it('denies a nodeName that does not exist or is not an edge node', () => {
    expect(create(device({ nodeName: 'ghost' })).message).toBe('spec.nodeName: node "ghost" does not exist; let the edge node join first or leave nodeName empty until it has');
    expect(create(device({ nodeName: 'cloud-1' })).message).toBe(
      'spec.nodeName: node "cloud-1" is not an edge node (it has no label node-role.kubernetes.io/edge); choose an edge node or run kubectl label node cloud-1 node-role.kubernetes.io/edge=');
  });

  it('reports every violation, one per line', () => {
    const r = create(device({ nodeName: 'ghost', ...desired('setpoint', 'x') }));
    expect(r.message?.split('\n')).toHaveLength(2);
  });

  it('never blocks an update that leaves the spec alone, or a delete', () => {
    const broken = device({ deviceModelRef: { name: 'gone' } });
    const relabelled = { ...broken, metadata: { ...broken.metadata, labels: { a: 'b' } } };
    expect(validateDevice({ operation: 'UPDATE', object: relabelled, oldObject: broken, namespace: 'ns', lookups: staticLookups({}) }).allowed).toBe(true);
    expect(validateDevice({ operation: 'DELETE', oldObject: broken, namespace: 'ns', lookups: staticLookups({}) }).allowed).toBe(true);
    const deleting = { ...broken, metadata: { ...broken.metadata, deletionTimestamp: new Date() }, spec: { ...broken.spec, nodeName: 'x' } };
    expect(validateDevice({ operation: 'UPDATE', object: deleting, oldObject: broken, namespace: 'ns', lookups: staticLookups({}) }).allowed).toBe(true);
  });

  it('checks an update that changes the spec', () => {
    const ok = device();
    const r = validateDevice({ operation: 'UPDATE', object: device(desired('setpoint', '99')), oldObject: ok, namespace: 'ns', lookups: staticLookups(world) });
    expect(r.violations.map((v) => v.code)).toEqual(['DEVICE_DESIRED_OUT_OF_RANGE']);
  });
});
