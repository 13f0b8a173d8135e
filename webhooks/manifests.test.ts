import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { webhookManifestDrift } from '../hack/generate-webhooks.ts';
import { webhookDefinitions } from './definitions.ts';
import { andSelectors, webhookConfigurations } from './manifests.ts';

const root = join(import.meta.dirname, '..');

describe('webhook declaration', () => {
  it('has unique names and paths, explicit operations, and a documented failurePolicy', () => {
    expect(new Set(webhookDefinitions.map((d) => d.name)).size).toBe(webhookDefinitions.length);
    expect(new Set(webhookDefinitions.map((d) => d.path)).size).toBe(webhookDefinitions.length);
    const readme = readFileSync(join(import.meta.dirname, 'README.md'), 'utf8');
    for (const d of webhookDefinitions) {
      expect(d.name).toMatch(/^[a-z0-9-]+(\.[a-z0-9-]+){2,}$/);
      expect(d.rules.every((r) => (r.operations ?? []).length > 0 && !r.operations!.includes('*'))).toBe(true);
      expect(d.failurePolicyReason.startsWith(`${d.failurePolicy}:`)).toBe(true);
      expect(readme, `README.md lists ${d.name}`).toContain(`\`${d.name}\``);
      expect(readme).toContain(`\`${d.path}\``);
    }
  });
});

describe('webhookConfigurations', () => {
  it('renders url clientConfigs with the caBundle and ANDs extra selectors', () => {
    const { validating, mutating } = webhookConfigurations(webhookDefinitions, {
      name: 't', target: { url: 'https://127.0.0.1:9443/' }, caBundlePem: 'PEM',
      objectSelector: { matchLabels: { run: 'x' } }, namespaceSelector: { matchLabels: { team: 'a' } },
    });
    expect(validating.metadata?.name).toBe('t-validating');
    expect(mutating.metadata?.name).toBe('t-mutating');
    const pods = mutating.webhooks![0]!;
    expect(pods.clientConfig).toEqual({ url: 'https://127.0.0.1:9443/mutate/offline-autonomy', caBundle: Buffer.from('PEM').toString('base64') });
    expect(pods.objectSelector).toEqual({ matchLabels: { 'app-offline.kubeedge.io': 'autonomy', run: 'x' } });
    expect(pods.namespaceSelector).toEqual({ matchLabels: { team: 'a' }, matchExpressions: [expect.objectContaining({ key: 'kubernetes.io/metadata.name', operator: 'NotIn' })] });
    expect(validating.webhooks!.map((w) => [w.name, w.failurePolicy, w.sideEffects])).toEqual(
      webhookDefinitions.filter((d) => d.type === 'validating').map((d) => [d.name, d.failurePolicy, 'None']));
  });

  it('renders service clientConfigs without a caBundle when none is given', () => {
    const { validating } = webhookConfigurations(webhookDefinitions, { target: { service: { namespace: 'ns', name: 'svc' } } });
    expect(validating.webhooks![0]!.clientConfig).toEqual({ service: { namespace: 'ns', name: 'svc', path: '/validate/devices', port: 443 } });
  });

  it('andSelectors merges labels and concatenates expressions', () => {
    expect(andSelectors(undefined, undefined)).toBeUndefined();
    expect(andSelectors({ matchLabels: { a: '1' } }, { matchLabels: { b: '2' }, matchExpressions: [{ key: 'c', operator: 'Exists' }] })).toEqual({
      matchLabels: { a: '1', b: '2' }, matchExpressions: [{ key: 'c', operator: 'Exists' }],
    });
  });

  it('config/webhook is generated from the declaration (run `node hack/generate-webhooks.ts`)', () => {
    expect(webhookManifestDrift(root)).toEqual([]);
  });
});
