import { describe, expect, it } from 'vitest';
import type { Device, DeviceModel, ModelProperty } from '../../api/index.ts';
import { staticLookups, type StaticObjects } from '../lookups.ts';
import { validateDeviceModel } from './validate.ts';

function model(properties: ModelProperty[], protocol = 'modbus'): DeviceModel {
  return { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { name: 'm', namespace: 'ns' }, spec: { protocol, properties } };
}
function device(name: string, spec: Partial<Device['spec']> = {}, modelName = 'm'): Device {
  return { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'Device', metadata: { name, namespace: 'ns' }, spec: { deviceModelRef: { name: modelName }, ...spec } };
}
const props: ModelProperty[] = [
  { name: 'temperature', type: 'FLOAT', accessMode: 'ReadOnly' },
  { name: 'setpoint', type: 'INT', accessMode: 'ReadWrite', minimum: '5', maximum: '35' },
  { name: 'spare', type: 'STRING', accessMode: 'ReadWrite' },
];
const old = model(props);
const devices = [
  device('d1', { properties: [{ name: 'temperature' }, { name: 'setpoint', desired: { value: '30' } }] }),
  device('d2', { properties: [{ name: 'setpoint' }], protocol: { protocolName: 'modbus' } }),
  device('other-model', { properties: [{ name: 'spare' }] }, 'x'),
];
const world: StaticObjects = { devices, namespaces: [{ metadata: { name: 'ns' } }] };
const update = (next: DeviceModel, objs: StaticObjects = world) => validateDeviceModel({ operation: 'UPDATE', object: next, oldObject: old, namespace: 'ns', lookups: staticLookups(objs) });

describe('validateDeviceModel', () => {
  it('allows a valid model and an unchanged update', () => {
    expect(validateDeviceModel({ operation: 'CREATE', object: old, namespace: 'ns', lookups: staticLookups({}) }).allowed).toBe(true);
    expect(update(model(props))).toEqual({ allowed: true, warnings: [], violations: [] });
  });

  it('denies bounds that do not parse as the property type', () => {
    const r = validateDeviceModel({ operation: 'CREATE', object: model([{ name: 'p', type: 'INT', minimum: '1.5', maximum: 'high' }]), namespace: 'ns', lookups: staticLookups({}) });
    expect(r.message).toBe('spec.properties[0].minimum: "1.5" is not a valid INT for property "p"; use an integer like "42"\nspec.properties[0].maximum: "high" is not a valid INT for property "p"; use an integer like "42"');
  });

  it('warns about bounds on non-numeric properties', () => {
    const r = validateDeviceModel({ operation: 'CREATE', object: model([{ name: 'p', type: 'STRING', minimum: 'a' }]), namespace: 'ns', lookups: staticLookups({}) });
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual(['spec.properties[0].minimum: minimum is ignored for a property of type STRING; set it only on INT, FLOAT and DOUBLE properties']);
  });

  it('allows removing or retyping a property no Device uses', () => {
    expect(update(model(props.filter((p) => p.name !== 'spare')), { devices: devices.slice(0, 2) }).allowed).toBe(true);
    expect(update(model(props.map((p) => (p.name === 'spare' ? { ...p, type: 'INT' } : p))), { devices: devices.slice(0, 2) }).allowed).toBe(true);
  });

  it('ignores Devices of other models and Devices being deleted', () => {
    const deleting = devices.slice(0, 2).map((d) => ({ ...d, metadata: { ...d.metadata, deletionTimestamp: new Date() } }));
    expect(update(model([]), { devices: [...deleting, devices[2]!] }).allowed).toBe(true);
  });

  it('denies removing a property Devices use, naming them', () => {
    expect(update(model(props.slice(1))).message).toBe('spec.properties: property "temperature" is used by Devices "d1"; remove it from those Devices first, then from the model');
    expect(update(model([props[0]!, props[2]!])).message).toContain('property "setpoint" is used by Devices "d1", "d2"');
  });

  it('denies retyping a property Devices use', () => {
    const r = update(model(props.map((p) => (p.name === 'setpoint' ? { ...p, type: 'DOUBLE' } : p))));
    expect(r.violations).toEqual([{ code: 'DEVICEMODEL_PROPERTY_RETYPED', field: 'spec.properties[1].type', message: expect.stringContaining('changing property "setpoint" from INT to DOUBLE would break Devices "d1", "d2"') }]);
  });

  it('denies making a property ReadOnly while a Device sets a desired value', () => {
    const r = update(model(props.map((p) => (p.name === 'setpoint' ? { ...p, accessMode: 'ReadOnly' } : p))));
    expect(r.violations.map((v) => [v.code, v.field])).toEqual([['DEVICEMODEL_PROPERTY_READONLY_IN_USE', 'spec.properties[1].accessMode']]);
  });

  it('warns when a new range excludes an existing desired value', () => {
    const r = update(model(props.map((p) => (p.name === 'setpoint' ? { ...p, maximum: '25' } : p))));
    expect(r.allowed).toBe(true);
    expect(r.warnings).toEqual(['spec.properties[1]: the desired value "30" of Device "d1" is outside the new range of property "setpoint"; update that Device too']);
  });

  it('denies changing the protocol a Device names', () => {
    const r = update(model(props, 'opcua'));
    expect(r.violations.map((v) => v.code)).toEqual(['DEVICEMODEL_PROTOCOL_IN_USE']);
    expect(r.message).toContain('Devices "d2" use protocol "modbus"');
  });

  it('denies deleting a model in use, unless its namespace is going away', () => {
    const del = (objs: StaticObjects) => validateDeviceModel({ operation: 'DELETE', oldObject: old, namespace: 'ns', lookups: staticLookups(objs) });
    expect(del(world).message).toBe('metadata.name: DeviceModel "m" is used by Devices "d1", "d2"; delete those Devices or point them at another model first');
    expect(del({ devices: [devices[2]!] }).allowed).toBe(true);
    expect(del({ devices, namespaces: [{ metadata: { name: 'ns', deletionTimestamp: new Date() } }] }).allowed).toBe(true);
  });

  it('lists at most five Devices', () => {
    const many = Array.from({ length: 8 }, (_, i) => device(`d${i}`, { properties: [{ name: 'spare' }] }));
    expect(validateDeviceModel({ operation: 'DELETE', oldObject: old, namespace: 'ns', lookups: staticLookups({ devices: many }) }).message).toContain('"d4" and 3 more');
  });
});
