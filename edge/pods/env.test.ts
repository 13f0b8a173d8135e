import { describe, expect, it } from 'vitest';
import { containerEnv, expand, expandCommand, parseQuantity, type Lookups } from './env.ts';
import type { Container, Pod } from './types.ts';

const facts = { hostIP: '10.0.0.7', podIP: '10.0.0.7', allocatable: { cpu: '4', memory: '8Gi' } };
const lookups: Lookups = {
  configMap: (ns, n) => (ns === 'ns' && n === 'cm' ? { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { a: 'A', 'bad=key': 'x' } } : undefined),
  secret: (ns, n) => (ns === 'ns' && n === 's' ? { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { pw: Buffer.from('hunter2').toString('base64') } } : undefined),
};
const pod = (c: Container): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { app: 'x' }, annotations: { 'a/b': 'c' } }, spec: { nodeName: 'n1', serviceAccountName: 'sa', containers: [c] } });
const env = (c: Partial<Container>) => Object.fromEntries(containerEnv(pod({ name: 'c', ...c }), { name: 'c', ...c }, lookups, facts).map((e) => [e.name, e.value]));

describe('expand ($(VAR) references, the Kubernetes rules)', () => {
  const vars = new Map([['A', 'x'], ['B', 'y']]);
  it.each([
    ['$(A)', 'x'], ['$(A)-$(B)', 'x-y'], ['$$(A)', '$(A)'], ['$(C)', '$(C)'], ['$(A', '$(A'], ['$A', '$A'], ['a$', 'a$'], ['$$$(A)', '$x'],
  ])('%s → %s', (input, out) => expect(expand(input, (n) => vars.get(n))).toBe(out));
});

describe('containerEnv', () => {
  it('resolves values, references, envFrom and field refs in order, later names winning', () => {
    expect(env({
      envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'CM_' }, { secretRef: { name: 's' } }],
      env: [
        { name: 'A', value: '1' }, { name: 'B', value: '$(A)$(CM_a)' }, { name: 'pw', value: 'override' },
        { name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'pw' } } },
        { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
        { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
        { name: 'ANN', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['a/b']" } } },
        { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
        { name: 'SA', valueFrom: { fieldRef: { fieldPath: 'spec.serviceAccountName' } } },
        { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      ],
    })).toEqual({ CM_a: 'A', pw: 'override', A: '1', B: '1A', S: 'hunter2', NAME: 'p', UID: 'u1', APP: 'x', ANN: 'c', NODE: 'n1', SA: 'sa', IP: '10.0.0.7', HOST: '10.0.0.7' });
  });

  it('throws POD_CONFIG_INVALID for a missing non-optional reference, and skips optional ones', () => {
    const err = (c: Partial<Container>) => {
      try {
        env(c);
        return undefined;
      } catch (e) {
        return `${(e as { code: string }).code}: ${(e as Error).message}`;
      }
    };
    expect(err({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'a' } } }] })).toBe('POD_CONFIG_INVALID: configmap "nope" not found');
    expect(err({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'cm', key: 'zz' } } }] })).toBe('POD_CONFIG_INVALID: couldn\'t find key zz in ConfigMap ns/cm');
    expect(err({ env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'gone', key: 'a' } } }] })).toBe('POD_CONFIG_INVALID: secret "gone" not found');
    expect(err({ envFrom: [{ secretRef: { name: 'gone' } }] })).toBe('POD_CONFIG_INVALID: secret "gone" not found');
    expect(err({ env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.hostname' } } }] })).toMatch(/^POD_CONFIG_INVALID: fieldRef "spec.hostname" is not supported/);
    expect(env({ env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'nope', key: 'a', optional: true } } }], envFrom: [{ configMapRef: { name: 'nope', optional: true } }] })).toEqual({});
  });

  it('resolves resourceFieldRef with divisors, defaulting limits to node allocatable', () => {
    expect(env({
      resources: { limits: { memory: '128Mi', cpu: '500m' }, requests: { cpu: '250m' } },
      env: [
        { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'requests.cpu', divisor: '1m' } } },
      ],
    })).toEqual({ MEM: '128', CPU: '1', CPU_M: '250' });
    expect(env({ env: [{ name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Gi' } } }] })).toEqual({ MEM: '8' });
  });

  it('expands command and args against the environment', () => {
    expect(expandCommand({ name: 'c', command: ['echo', '$(A)'], args: ['$(B)', '$$(A)'] }, [{ name: 'A', value: '1' }, { name: 'B', value: '2' }])).toEqual({ command: ['echo', '1'], args: ['2', '$(A)'] });
  });

  it.each([['500m', 0.5], ['2', 2], ['128Mi', 134217728], ['1G', 1e9], ['1e3', 1000], ['1.5Ki', 1536], ['x', Number.NaN]])('parseQuantity(%s) = %d', (q, v) => {
    expect(parseQuantity(q)).toBe(v);
  });
});
