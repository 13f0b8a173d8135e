import { describe, expect, it } from 'vitest';
import { podReferences, RoutingIndex } from './routing.ts';

const pod = (name: string, nodeName: string | undefined, spec: object = {}) => ({
  apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'ns', name }, spec: { nodeName, ...spec },
});
const usesCm = (cm: string) => ({ containers: [{ envFrom: [{ configMapRef: { name: cm } }] }] });

describe('podReferences', () => {
  it('finds ConfigMaps and Secrets in volumes, projected sources, env, envFrom and imagePullSecrets', () => {
    const refs = podReferences(pod('p', 'n1', {
      volumes: [{ configMap: { name: 'a' } }, { secret: { secretName: 'b' } }, { projected: { sources: [{ configMap: { name: 'c' } }, { secret: { name: 'd' } }] } }],
      containers: [{ env: [{ valueFrom: { configMapKeyRef: { name: 'e' } } }, { valueFrom: { secretKeyRef: { name: 'f' } } }] }],
      initContainers: [{ envFrom: [{ configMapRef: { name: 'g' } }, { secretRef: { name: 'h' } }] }],
      imagePullSecrets: [{ name: 'i' }],
    }));
    expect(refs).toEqual(['v1/ConfigMap/ns/a', 'v1/ConfigMap/ns/c', 'v1/ConfigMap/ns/e', 'v1/ConfigMap/ns/g',
      'v1/Secret/ns/b', 'v1/Secret/ns/d', 'v1/Secret/ns/f', 'v1/Secret/ns/h', 'v1/Secret/ns/i']);
  });
});

describe('RoutingIndex', () => {
  it('routes a bound pod and its ConfigMap to its node only', () => {
    const r = new RoutingIndex();
    expect(r.upsert('pod', pod('p', undefined))).toEqual([]); // unscheduled: nobody
    const changes = r.upsert('pod', pod('p', 'n1', usesCm('cm')));
    expect(changes).toEqual([
      { node: 'n1', key: 'v1/Pod/ns/p', routed: true },
      { node: 'n1', key: 'v1/ConfigMap/ns/cm', routed: true },
    ]);
    expect([...r.nodesFor('v1/ConfigMap/ns/cm')]).toEqual(['n1']);
    expect(r.keysFor('n2')).toEqual([]);
  });

  it('routes a shared ConfigMap once per node and drops it with its last user', () => {
    const r = new RoutingIndex();
    r.upsert('pod', pod('a', 'n1', usesCm('cm')));
    expect(r.upsert('pod', pod('b', 'n1', usesCm('cm')))).toEqual([{ node: 'n1', key: 'v1/Pod/ns/b', routed: true }]);
    expect(r.remove('pod', pod('a', 'n1'))).toEqual([{ node: 'n1', key: 'v1/Pod/ns/a', routed: false }]);
    expect(r.remove('pod', pod('b', 'n1'))).toEqual([
      { node: 'n1', key: 'v1/ConfigMap/ns/cm', routed: false },
      { node: 'n1', key: 'v1/Pod/ns/b', routed: false },
    ]);
    expect(r.nodesFor('v1/ConfigMap/ns/cm').size).toBe(0);
  });

  it('re-routes references when a pod stops using a ConfigMap', () => {
    const r = new RoutingIndex();
    r.upsert('pod', pod('a', 'n1', usesCm('old')));
    expect(r.upsert('pod', pod('a', 'n1', usesCm('new')))).toEqual([
      { node: 'n1', key: 'v1/ConfigMap/ns/new', routed: true },
      { node: 'n1', key: 'v1/ConfigMap/ns/old', routed: false },
    ]);
  });

  it('routes Nodes to themselves, Devices and their DeviceModels by spec.nodeName', () => {
    const r = new RoutingIndex();
    r.upsert('node', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
    r.upsert('device', { metadata: { namespace: 'ns', name: 'd' }, spec: { nodeName: 'n1', deviceModelRef: { name: 'm' } } });
    expect(r.keysFor('n1').sort()).toEqual(['devices.kubeedge.io/v1beta1/Device/ns/d', 'devices.kubeedge.io/v1beta1/DeviceModel/ns/m', 'v1/Node//n1']);
    // moving the device moves its model
    const moved = r.upsert('device', { metadata: { namespace: 'ns', name: 'd' }, spec: { nodeName: 'n2', deviceModelRef: { name: 'm' } } });
    expect(moved.filter((c) => c.routed).map((c) => c.node)).toEqual(['n2', 'n2']);
    expect(moved.filter((c) => !c.routed).map((c) => c.node)).toEqual(['n1', 'n1']);
  });
});
