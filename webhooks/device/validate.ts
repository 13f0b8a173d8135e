/**
 * Device (devices.kubeedge.io/v1beta1) rules that need other objects, which
 * the CRD schema and CEL cannot see. KubeEdge's own webhook checks only
 * unique property names (our CRD does that with CEL).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Device, DeviceModel, ModelProperty } from '../../api/index.ts';
import { nameList, verdict, type ValidateInput, type ValidationResult, type Violation } from '../admission.ts';
import { isNumericType, parseValue } from './values.ts';

/** The label that marks a node as an edge node (set when an edge node joins). */
export const edgeNodeLabel = 'node-role.kubernetes.io/edge';

/** Checks a desired value against the model property; empty when it is fine. */
export function desiredValueViolations(value: string, prop: ModelProperty, field: string): Violation[] {
  const parsed = parseValue(prop.type, value);
  if (!parsed.ok) {
    return [{ code: 'DEVICE_DESIRED_INVALID', field, message: `${JSON.stringify(value)} is not a valid ${prop.type} for property "${prop.name}"; ${parsed.fix}` }];
  }
  if (parsed.number === undefined || !isNumericType(prop.type)) return [];
  const bound = (s: string | undefined) => (s !== undefined && parseValue(prop.type, s).ok ? Number(s) : undefined);
  const min = bound(prop.minimum);
  const max = bound(prop.maximum);
  const range = min !== undefined && max !== undefined ? `a value from ${prop.minimum} to ${prop.maximum}` : min !== undefined ? `a value of at least ${prop.minimum}` : `a value of at most ${prop.maximum}`;
  if (min !== undefined && parsed.number < min) {
    return [{ code: 'DEVICE_DESIRED_OUT_OF_RANGE', field, message: `${JSON.stringify(value)} is below the minimum "${prop.minimum}" of property "${prop.name}"; use ${range}` }];
  }
  if (max !== undefined && parsed.number > max) {
    return [{ code: 'DEVICE_DESIRED_OUT_OF_RANGE', field, message: `${JSON.stringify(value)} is above the maximum "${prop.maximum}" of property "${prop.name}"; use ${range}` }];
  }
  return [];
}

function modelViolations(device: Device, model: DeviceModel): Violation[] {
  const out: Violation[] = [];
  const modelName = model.metadata?.name ?? '';
  const props = new Map((model.spec?.properties ?? []).map((p) => [p.name, p]));
  const defined = nameList([...props.keys()]) || 'no properties';
  const devProtocol = device.spec.protocol?.protocolName;
  const protocol = devProtocol || model.spec?.protocol;
  if (devProtocol && model.spec?.protocol && devProtocol !== model.spec.protocol) {
    out.push({
      code: 'DEVICE_PROTOCOL_MISMATCH', field: 'spec.protocol.protocolName',
      message: `"${devProtocol}" does not match protocol "${model.spec.protocol}" of DeviceModel "${modelName}"; use "${model.spec.protocol}" or refer to a DeviceModel for ${devProtocol}`,
    });
  }
  (device.spec.properties ?? []).forEach((p, i) => {
    const field = `spec.properties[${i}]`;
    const mp = props.get(p.name);
    if (!mp) {
      out.push({ code: 'DEVICE_PROPERTY_UNKNOWN', field: `${field}.name`, message: `property "${p.name}" is not defined in DeviceModel "${modelName}" (it defines ${defined}); add it to the model or correct the name` });
      return;
    }
    const visitorProtocol = p.visitors?.protocolName;
    if (visitorProtocol && protocol && visitorProtocol !== protocol) {
      out.push({ code: 'DEVICE_VISITOR_PROTOCOL_MISMATCH', field: `${field}.visitors.protocolName`, message: `"${visitorProtocol}" does not match the device's protocol "${protocol}"; use "${protocol}" or leave protocolName out` });
    }
    const value = p.desired?.value;
    if (value === undefined) return;
    if (mp.accessMode === 'ReadOnly') {
      out.push({ code: 'DEVICE_READONLY_DESIRED', field: `${field}.desired`, message: `property "${p.name}" is ReadOnly in DeviceModel "${modelName}"; remove desired (only ReadWrite properties can be written)` });
      return;
    }
    out.push(...desiredValueViolations(value, mp, `${field}.desired.value`));
  });
  (device.spec.methods ?? []).forEach((m, i) => {
    (m.propertyNames ?? []).forEach((name, j) => {
      if (!props.has(name)) {
        out.push({ code: 'DEVICE_METHOD_PROPERTY_UNKNOWN', field: `spec.methods[${i}].propertyNames[${j}]`, message: `property "${name}" is not defined in DeviceModel "${modelName}" (it defines ${defined}); add it to the model or correct the name` });
      }
    });
  });
  return out;
}

/**
 * Validates a Device: its DeviceModel exists in the same namespace; every
 * property (and method property) exists in the model; protocol names agree;
 * desired values parse as the property type and respect minimum/maximum;
 * ReadOnly properties have no desired value; nodeName, if set, is an existing
 * edge node. An UPDATE that leaves the spec unchanged (labels, finalizers) or
 * hits an object being deleted is always allowed, so a missing model or node
 * never blocks cleanup. Pure apart from `lookups`.
 */
export function validateDevice(input: ValidateInput<Device>): ValidationResult {
  const { operation, object: device, oldObject, lookups } = input;
  if (operation !== 'CREATE' && operation !== 'UPDATE') return verdict([]);
  if (!device?.spec) return verdict([]); // the CRD schema requires spec
  if (operation === 'UPDATE' && (device.metadata?.deletionTimestamp || isDeepStrictEqual(device.spec, oldObject?.spec))) return verdict([]);
  const namespace = input.namespace || device.metadata?.namespace || '';
  const out: Violation[] = [];
  const modelName = device.spec.deviceModelRef?.name;
  const model = modelName ? lookups.deviceModel(namespace, modelName) : undefined;
  if (modelName && !model) {
    out.push({ code: 'DEVICE_MODEL_NOT_FOUND', field: 'spec.deviceModelRef.name', message: `DeviceModel "${modelName}" does not exist in namespace "${namespace}"; create the DeviceModel first or correct the name` });
  }
  if (model) out.push(...modelViolations(device, model));
  const nodeName = device.spec.nodeName;
  if (nodeName) {
    const node = lookups.node(nodeName);
    if (!node) {
      out.push({ code: 'DEVICE_NODE_NOT_FOUND', field: 'spec.nodeName', message: `node "${nodeName}" does not exist; let the edge node join first or leave nodeName empty until it has` });
    } else if (node.metadata?.labels?.[edgeNodeLabel] === undefined) {
      out.push({ code: 'DEVICE_NODE_NOT_EDGE', field: 'spec.nodeName', message: `node "${nodeName}" is not an edge node (it has no label ${edgeNodeLabel}); choose an edge node or run kubectl label node ${nodeName} ${edgeNodeLabel}=` });
    }
  }
  return verdict(out);
}
