/**
 * The generated types, checked by `tsc` (this file is in the typecheck) and by vitest at run time:
 * objects are closed (a misspelt field is a type error), free-form fields stay open,
 * int-or-string quantities take both forms, and the GVK constants match the CRDs.
 */
import { describe, expect, it } from 'vitest';
import { DeviceGVK, DeviceModelGVK, EdgeApplicationGVK, NodeGroupGVK } from './index.ts';
import type { Device, EdgeApplication, NodeGroup, ResourceRequirements } from './index.ts';

const device: Device = {
  apiVersion: 'devices.kubeedge.io/v1beta1',
  kind: 'Device',
  metadata: { name: 'thermostat' },
  spec: {
    deviceModelRef: { name: 'modbus-thermostat' },
    nodeName: 'edge-node-1',
    protocol: { protocolName: 'modbus', configData: { ip: '192.168.10.21', port: 502 } },
    properties: [
      {
        name: 'temperature',
        visitors: { protocolName: 'modbus', configData: { register: 'HoldingRegister', offset: 0, scale: 0.1 } },
        pushMethod: { mqtt: { address: 'mqtt://127.0.0.1:1883', topic: 't', qos: 1 } },
        // @ts-expect-error misspelt field names do not type-check: Kubernetes would prune them
        reportTocloud: true,
      },
    ],
  },
};

const resources: ResourceRequirements = { limits: { cpu: '500m', memory: '128Mi' }, requests: { cpu: 1 } };

const app: EdgeApplication = {
  apiVersion: 'apps.kubeedge.io/v1alpha1',
  kind: 'EdgeApplication',
  metadata: { name: 'nginx', namespace: 'default' },
  spec: {
    workloadTemplate: { manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', data: { a: 'b' } }] },
    workloadScope: {
      targetNodeGroups: [
        {
          name: 'hangzhou',
          overriders: {
            // @ts-expect-error operator is add | remove | replace
            imageOverriders: [{ component: 'Tag', operator: 'append', value: 'v2' }],
            resourcesOverriders: [{ containerName: 'nginx', value: resources }],
          },
        },
      ],
    },
  },
};

// @ts-expect-error spec is required
const emptyGroup: NodeGroup = { apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'NodeGroup', metadata: { name: 'g' } };

describe('generated API types', () => {
  it('GVK constants name the served resources', () => {
    expect(DeviceGVK).toEqual({ group: 'devices.kubeedge.io', version: 'v1beta1', kind: 'Device', plural: 'devices', apiVersion: 'devices.kubeedge.io/v1beta1', namespaced: true });
    expect(DeviceModelGVK.plural).toBe('devicemodels');
    expect(NodeGroupGVK).toMatchObject({ plural: 'nodegroups', namespaced: false });
    expect(EdgeApplicationGVK).toMatchObject({ plural: 'edgeapplications', namespaced: true });
    expect(device.apiVersion).toBe(DeviceGVK.apiVersion);
    expect(app.apiVersion).toBe(EdgeApplicationGVK.apiVersion);
    expect(emptyGroup.kind).toBe(NodeGroupGVK.kind);
  });
});
