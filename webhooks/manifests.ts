/**
 * Renders the webhook configurations from the declaration in definitions.ts.
 * Pure: used by the registration manager (url mode with the live caBundle,
 * or service mode in-cluster) and by hack/generate-webhooks.ts, which writes
 * config/webhook/manifests.yaml.
 */
import type * as k8s from '@kubernetes/client-node';
import type { WebhookDefinition } from './definitions.ts';

/** Where the API server reaches the webhook server. */
export type ClientTarget =
  | { url: string }
  | { service: { namespace: string; name: string; port?: number } };

/** Options of {@link webhookConfigurations}. */
export interface ManifestOptions {
  /** Configuration names are `<name>-validating` and `<name>-mutating`; default `outpost`. */
  name?: string;
  target: ClientTarget;
  /** PEM of the CA certificate(s) that sign the serving certificate; omitted when absent (cert-manager style injection). */
  caBundlePem?: string;
  /** ANDed into every webhook's objectSelector (tests scope the webhooks to their own objects with it). */
  objectSelector?: k8s.V1LabelSelector;
  /** ANDed into every webhook's namespaceSelector. */
  namespaceSelector?: k8s.V1LabelSelector;
  labels?: Record<string, string>;
}

/** The two configuration objects. */
export interface WebhookConfigurations {
  validating: k8s.V1ValidatingWebhookConfiguration;
  mutating: k8s.V1MutatingWebhookConfiguration;
}

/** Both selectors must match: matchLabels merged, matchExpressions concatenated. */
export function andSelectors(...sels: (k8s.V1LabelSelector | undefined)[]): k8s.V1LabelSelector | undefined {
  const present = sels.filter((s): s is k8s.V1LabelSelector => s !== undefined);
  if (present.length === 0) return undefined;
  const matchLabels = Object.assign({}, ...present.map((s) => s.matchLabels ?? {})) as Record<string, string>;
  const matchExpressions = present.flatMap((s) => s.matchExpressions ?? []);
  return {
    ...(Object.keys(matchLabels).length ? { matchLabels } : {}),
    ...(matchExpressions.length ? { matchExpressions } : {}),
  };
}

function clientConfig(target: ClientTarget, path: string, caBundlePem: string | undefined): k8s.AdmissionregistrationV1WebhookClientConfig {
  const caBundle = caBundlePem ? { caBundle: Buffer.from(caBundlePem).toString('base64') } : {};
  if ('url' in target) return { url: `${target.url.replace(/\/$/, '')}${path}`, ...caBundle };
  return { service: { namespace: target.service.namespace, name: target.service.name, path, port: target.service.port ?? 443 }, ...caBundle };
}

/** The two configurations for `defs`. Deterministic: same input, same output. */
export function webhookConfigurations(defs: readonly WebhookDefinition[], opts: ManifestOptions): WebhookConfigurations {
  const base = opts.name ?? 'outpost';
  const metadata = (suffix: string) => ({ name: `${base}-${suffix}`, ...(opts.labels ? { labels: opts.labels } : {}) });
  const common = (d: WebhookDefinition) => {
    const objectSelector = andSelectors(d.objectSelector, opts.objectSelector);
    const namespaceSelector = andSelectors(d.namespaceSelector, opts.namespaceSelector);
    return {
      name: d.name,
      clientConfig: clientConfig(opts.target, d.path, opts.caBundlePem),
      rules: d.rules,
      failurePolicy: d.failurePolicy,
      matchPolicy: 'Equivalent',
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      timeoutSeconds: d.timeoutSeconds,
      ...(objectSelector ? { objectSelector } : {}),
      ...(namespaceSelector ? { namespaceSelector } : {}),
    };
  };
  return {
    validating: {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: metadata('validating'),
      webhooks: defs.filter((d) => d.type === 'validating').map(common),
    },
    mutating: {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: metadata('mutating'),
      webhooks: defs.filter((d) => d.type === 'mutating').map((d) => ({ ...common(d), reinvocationPolicy: 'Never' })),
    },
  };
}
