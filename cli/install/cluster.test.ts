/**
 * `outpost init` applies exactly what `kubectl apply -k config/default`
 * applies (same kinds, names, namespaces), plus its flags folded into the
 * Deployment; the GitOps overlays build.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { readState } from '../../hack/local-cluster/control-plane.ts';
import { configDir, installObjects, pkiFingerprintAnnotation, renderKustomization } from './cluster.ts';

function kubectl(): string | undefined {
  const s = readState();
  const local = s && join(s.binDir, 'kubectl');
  if (local && existsSync(local)) return local;
  return spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0 ? 'kubectl' : undefined;
}

const id = (o: k8s.KubernetesObject) => `${o.apiVersion}/${o.kind}/${o.metadata?.namespace ?? ''}/${o.metadata?.name}`;

function kustomize(dir: string): k8s.KubernetesObject[] {
  const bin = kubectl();
  if (!bin) throw new Error('kubectl is needed to build kustomizations (it embeds kustomize); install kubectl or run the local cluster once (npm run cluster:up)');
  return YAML.parseAllDocuments(execFileSync(bin, ['kustomize', dir], { encoding: 'utf8' })).map((d) => d.toJS() as k8s.KubernetesObject);
}

describe('config/ and outpost init', () => {
  it('init renders the same objects as kubectl kustomize config/default', () => {
    const ours = renderKustomization(join(configDir, 'default'));
    const theirs = kustomize(join(configDir, 'default'));
    expect(ours.map(id).sort()).toEqual(theirs.map(id).sort());
    // and the same content, object by object
    const byId = new Map(theirs.map((o) => [id(o), o]));
    for (const o of ours) expect(o).toEqual(byId.get(id(o)));
  });

  it('contains CRDs, least-privilege RBAC, the Deployment and its Service; never cluster-admin', () => {
    const kinds = renderKustomization(join(configDir, 'default')).map((o) => `${o.kind}/${o.metadata?.name}`);
    expect(kinds).toEqual(expect.arrayContaining([
      'CustomResourceDefinition/devices.devices.kubeedge.io', 'CustomResourceDefinition/nodegroups.apps.kubeedge.io',
      'ClusterRole/outpost-cloud', 'ClusterRoleBinding/outpost-cloud', 'ServiceAccount/outpost-cloud', 'Deployment/outpost-cloud', 'Service/outpost-cloudhub', 'Namespace/outpost-system',
    ]));
    expect(JSON.stringify(renderKustomization(join(configDir, 'default')))).not.toContain('cluster-admin');
  });

  it('folds --advertise-address, --image and the PKI fingerprint into the Deployment', () => {
    const d = installObjects({ advertise: ['10.0.0.5', 'hub.example.com'], image: 'registry.example/outpost:1', advertiseHubPort: 30000 }, 'abc123')
      .find((o) => o.kind === 'Deployment') as k8s.V1Deployment;
    const c = d.spec!.template.spec!.containers[0]!;
    expect(c.image).toBe('registry.example/outpost:1');
    expect(c.args!.filter((a) => a.startsWith('--advertise'))).toEqual([
      '--advertise-address=outpost-cloudhub.outpost-system.svc', '--advertise-address=10.0.0.5', '--advertise-address=hub.example.com', '--advertise-hub-port=30000',
    ]);
    expect(d.spec!.template.metadata!.annotations![pkiFingerprintAnnotation]).toBe('abc123');
  });

  it.each(['overlays/nodeport', 'webhook', 'rbac', 'crd', 'samples'])('config/%s builds with kustomize', (dir) => {
    expect(kustomize(join(configDir, dir)).length).toBeGreaterThan(0);
  });

  it('the argocd Component patches an Argo CD install\'s argocd-cm with the three health checks', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'outpost-argocd-'));
    try {
      writeFileSync(join(dir, 'cm.yaml'), 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cm\n  namespace: argocd\ndata:\n  url: https://argocd.example\n');
      writeFileSync(join(dir, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [cm.yaml]\ncomponents: [${relative(dir, join(configDir, 'argocd'))}]\n`);
      const out = YAML.parse(execFileSync(kubectl()!, ['kustomize', '--load-restrictor', 'LoadRestrictionsNone', dir], { encoding: 'utf8' })) as k8s.V1ConfigMap;
      expect(Object.keys(out.data!).sort()).toEqual([
        'resource.customizations.health.apps.kubeedge.io_EdgeApplication', 'resource.customizations.health.apps.kubeedge.io_NodeGroup',
        'resource.customizations.health.devices.kubeedge.io_Device', 'url',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
