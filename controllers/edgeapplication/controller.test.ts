import { describe, expect, it } from 'vitest';
import type { EdgeApplication } from '../../api/index.ts';
import { appsTargeting } from './controller.ts';

const app = (namespace: string, name: string, groups: string[]): EdgeApplication => ({
  apiVersion: 'apps.kubeedge.io/v1alpha1',
  kind: 'EdgeApplication',
  metadata: { namespace, name },
  spec: { workloadScope: { targetNodeGroups: groups.map((g) => ({ name: g })), targetNodeLabels: [{ labelSelector: { matchLabels: { a: 'b' } } }] } },
});

describe('appsTargeting (NodeGroup → EdgeApplication requests)', () => {
  it('maps a NodeGroup to every EdgeApplication that targets it by name, in any namespace', () => {
    const apps = [app('ns1', 'x', ['a', 'b']), app('ns2', 'y', ['b']), app('ns1', 'z', ['c']), { ...app('ns1', 'w', []), spec: { workloadScope: {} } }];
    expect(appsTargeting(apps, 'b')).toEqual([{ namespace: 'ns1', name: 'x' }, { namespace: 'ns2', name: 'y' }]);
    expect(appsTargeting(apps, 'a')).toEqual([{ namespace: 'ns1', name: 'x' }]);
    expect(appsTargeting(apps, 'nope')).toEqual([]);
    expect(appsTargeting(apps, undefined)).toEqual([]);
  });
});
