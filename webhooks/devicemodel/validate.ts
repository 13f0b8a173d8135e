/**
 * DeviceModel (devices.kubeedge.io/v1beta1) rules that need the Devices of the
 * model: a change must not break a Device that exists, and a model in use
 * cannot be deleted. KubeEdge allows both and leaves the Devices broken.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Device, DeviceModel, ModelProperty } from '../../api/index.ts';
import { nameList, verdict, type ValidateInput, type ValidationResult, type Violation } from '../admission.ts';
import { desiredValueViolations } from '../device/validate.ts';
import { isNumericType, parseValue } from '../device/values.ts';

const deviceName = (d: Device) => d.metadata?.name ?? '';

/** Devices in the model's namespace that refer to it and are not being deleted. */
function devicesOf(model: DeviceModel, devices: readonly Device[]): Device[] {
  return devices.filter((d) => d.spec?.deviceModelRef?.name === model.metadata?.name && !d.metadata?.deletionTimestamp);
}

function boundViolations(model: DeviceModel): { violations: Violation[]; warnings: string[] } {
  const violations: Violation[] = [];
  const warnings: string[] = [];
  (model.spec?.properties ?? []).forEach((p, i) => {
    for (const bound of ['minimum', 'maximum'] as const) {
      const v = p[bound];
      if (v === undefined) continue;
      const field = `spec.properties[${i}].${bound}`;
      if (!isNumericType(p.type)) {
        warnings.push(`${field}: ${bound} is ignored for a property of type ${p.type ?? '(none)'}; set it only on INT, FLOAT and DOUBLE properties`);
        continue;
      }
      const parsed = parseValue(p.type, v);
      if (!parsed.ok) violations.push({ code: 'DEVICEMODEL_BOUND_INVALID', field, message: `${JSON.stringify(v)} is not a valid ${p.type} for property "${p.name}"; ${parsed.fix}` });
    }
  });
  return { violations, warnings };
}

function updateViolations(oldModel: DeviceModel, model: DeviceModel, users: Device[]): { violations: Violation[]; warnings: string[] } {
  const violations: Violation[] = [];
  const warnings: string[] = [];
  const oldProps = new Map((oldModel.spec?.properties ?? []).map((p) => [p.name, p]));
  const newProps = model.spec?.properties ?? [];
  const byName = new Map(newProps.map((p, i) => [p.name, { p, i }]));
  const usersOf = (prop: string) => users.filter((d) => (d.spec.properties ?? []).some((p) => p.name === prop));
  const writersOf = (prop: string) => users.filter((d) => (d.spec.properties ?? []).some((p) => p.name === prop && p.desired?.value !== undefined));

  for (const [name, old] of oldProps) {
    const using = usersOf(name).map(deviceName);
    if (using.length === 0) continue;
    const now = byName.get(name);
    if (!now) {
      violations.push({ code: 'DEVICEMODEL_PROPERTY_IN_USE', field: 'spec.properties', message: `property "${name}" is used by Devices ${nameList(using)}; remove it from those Devices first, then from the model` });
      continue;
    }
    const field = `spec.properties[${now.i}]`;
    if ((old.type ?? '') !== (now.p.type ?? '')) {
      violations.push({
        code: 'DEVICEMODEL_PROPERTY_RETYPED', field: `${field}.type`,
        message: `changing property "${name}" from ${old.type ?? '(none)'} to ${now.p.type ?? '(none)'} would break Devices ${nameList(using)}; keep the type, or add a new property (or model) and move the Devices to it`,
      });
      continue;
    }
    const writers = writersOf(name);
    if (now.p.accessMode === 'ReadOnly' && old.accessMode !== 'ReadOnly' && writers.length > 0) {
      violations.push({
        code: 'DEVICEMODEL_PROPERTY_READONLY_IN_USE', field: `${field}.accessMode`,
        message: `property "${name}" has a desired value in Devices ${nameList(writers.map(deviceName))}; remove desired from those Devices before making it ReadOnly`,
      });
      continue;
    }
    warnings.push(...rangeWarnings(now.p, writers, field));
  }
  const oldProtocol = oldModel.spec?.protocol;
  if (oldProtocol && model.spec?.protocol !== oldProtocol) {
    const pinned = users.filter((d) => d.spec.protocol?.protocolName === oldProtocol).map(deviceName);
    if (pinned.length > 0) {
      violations.push({
        code: 'DEVICEMODEL_PROTOCOL_IN_USE', field: 'spec.protocol',
        message: `Devices ${nameList(pinned)} use protocol "${oldProtocol}" of this model; change spec.protocol.protocolName of those Devices together with the model, or create a new model`,
      });
    }
  }
  return { violations, warnings };
}

/** Existing desired values that the new minimum/maximum would reject: a warning, the Devices stay as they are. */
function rangeWarnings(prop: ModelProperty, writers: Device[], field: string): string[] {
  const out: string[] = [];
  for (const d of writers) {
    const value = d.spec.properties?.find((p) => p.name === prop.name)?.desired?.value;
    if (value !== undefined && desiredValueViolations(value, prop, '').length > 0) {
      out.push(`${field}: the desired value ${JSON.stringify(value)} of Device "${deviceName(d)}" is outside the new range of property "${prop.name}"; update that Device too`);
    }
  }
  return out;
}

/**
 * Validates a DeviceModel. CREATE/UPDATE: numeric minimum/maximum parse as the
 * property type. UPDATE: properties used by existing Devices are not removed,
 * retyped or made ReadOnly under a desired value, and the protocol a Device
 * names is not changed. DELETE: denied while Devices use the model, unless
 * its namespace is being deleted (the namespace controller removes the
 * Devices too). An UPDATE that leaves the spec unchanged is always allowed.
 * Pure apart from `lookups`.
 */
export function validateDeviceModel(input: ValidateInput<DeviceModel>): ValidationResult {
  const { operation, object: model, oldObject, lookups } = input;
  if (operation === 'DELETE') {
    if (!oldObject) return verdict([]);
    const namespace = input.namespace || oldObject.metadata?.namespace || '';
    const ns = lookups.namespace(namespace);
    if (ns?.metadata?.deletionTimestamp || ns?.status?.phase === 'Terminating') return verdict([]);
    const using = devicesOf(oldObject, lookups.devices(namespace)).map(deviceName);
    if (using.length === 0) return verdict([]);
    return verdict([{
      code: 'DEVICEMODEL_IN_USE', field: 'metadata.name',
      message: `DeviceModel "${oldObject.metadata?.name}" is used by Devices ${nameList(using)}; delete those Devices or point them at another model first`,
    }]);
  }
  if ((operation !== 'CREATE' && operation !== 'UPDATE') || !model) return verdict([]);
  if (operation === 'UPDATE' && (model.metadata?.deletionTimestamp || isDeepStrictEqual(model.spec, oldObject?.spec))) return verdict([]);
  const bounds = boundViolations(model);
  if (operation === 'CREATE' || !oldObject) return verdict(bounds.violations, bounds.warnings);
  const namespace = input.namespace || model.metadata?.namespace || '';
  const update = updateViolations(oldObject, model, devicesOf(model, lookups.devices(namespace)));
  return verdict([...bounds.violations, ...update.violations], [...bounds.warnings, ...update.warnings]);
}
