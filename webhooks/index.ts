/**
 * Outpost's admission webhooks (webhooks/README.md). `startWebhooks` runs the
 * whole thing in one process: informer-backed lookups, the HTTPS server with
 * its own CA and rotating serving certificate, and the webhook
 * configurations (with the caBundle) kept up to date in the API server.
 */
import { isIP } from 'node:net';
import type * as k8s from '@kubernetes/client-node';
import { KubeClient, type SharedInformerFactory } from '../controllers/runtime/index.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { WebhookCertificates } from './certs.ts';
import { webhookDefinitions, type WebhookDefinition } from './definitions.ts';
import { WebhookError } from './errors.ts';
import { InformerLookups } from './lookups.ts';
import { webhookConfigurations, type ClientTarget } from './manifests.ts';
import { WebhookRegistration } from './registration.ts';
import { WebhookServer } from './server.ts';

export { webhookDefinitions, webhookRbacRules, type WebhookDefinition } from './definitions.ts';
export { webhookConfigurations, type ClientTarget, type ManifestOptions, type WebhookConfigurations } from './manifests.ts';
export { WebhookServer, type HttpResult } from './server.ts';
export { WebhookCertificates, rotationDue } from './certs.ts';
export { InformerLookups, staticLookups, staticProvider, type Lookups, type LookupProvider } from './lookups.ts';
export { WebhookError, type WebhookErrorCode } from './errors.ts';
export type { AdmissionRequest, AdmissionResponse, AdmissionReview, ValidateInput, ValidationResult, Violation } from './admission.ts';

/** Options of {@link startWebhooks}. */
export interface StartWebhooksOptions {
  kubeConfig: k8s.KubeConfig;
  /** The shared factory; the webhooks add (and start) informers for DeviceModels, Devices, Nodes, NodeGroups, Namespaces. */
  informers: SharedInformerFactory;
  log?: Logger;
  /** Listen address; default 127.0.0.1. */
  host?: string;
  /** Default 9443; 0 picks a free port. */
  port?: number;
  /**
   * `url` (default): the API server calls https://<advertiseHost>:<port>/<path>
   * (Outpost running as a process next to the control plane). `service`: it
   * calls the Service `service` (Outpost running in the cluster).
   */
  mode?: 'url' | 'service';
  /** url mode: the host in the URL; default `host`, or 127.0.0.1 when listening on all addresses. */
  advertiseHost?: string;
  /** service mode: the Service in front of the webhook pods. */
  service?: { namespace: string; name: string; port?: number };
  /** Where to keep the CA and serving certificate; without it they live in memory (a new CA per start). */
  certDir?: string;
  caValidityDays?: number;
  servingValidityDays?: number;
  /** Re-issue when less than this fraction of a certificate's lifetime remains; default 1/3. */
  rotateFraction?: number;
  /** How often to check for due rotations; default 1 h. */
  rotationCheckIntervalMs?: number;
  /**
   * After publishing a new CA in the caBundle, how long to wait before serving
   * a certificate signed by it (the API server picks up configuration changes
   * through a watch); default 10 s.
   */
  caPropagationDelayMs?: number;
  /** Base name of the configurations (`<name>-validating`, `<name>-mutating`); default `outpost`. */
  configurationName?: string;
  /** ANDed into every webhook's selectors (tests scope the webhooks to their own objects). */
  objectSelector?: k8s.V1LabelSelector;
  namespaceSelector?: k8s.V1LabelSelector;
  /** Apply the configurations (default true); false when they are deployed another way. */
  register?: boolean;
  /** Delete the configurations on stop (default false: a Fail webhook keeps guarding while Outpost restarts). */
  unregisterOnStop?: boolean;
  /** Deadline for the first sync of the lookup caches; default 60 s. */
  cacheSyncTimeoutMs?: number;
  /** False closes every connection after one admission (see WebhookServerOptions.keepAlive); default true. */
  keepAlive?: boolean;
  /** Replaces the declaration (tests). */
  webhooks?: readonly WebhookDefinition[];
}

/** The running webhooks, as {@link startWebhooks} returns them. */
export interface Webhooks {
  /** Where the server listens, and the base URL the configurations use in url mode. */
  address: { host: string; port: number; url: string };
  server: WebhookServer;
  /** PEM CA bundle currently published. */
  caBundle(): string;
  /**
   * Rotates now: the serving certificate, and with `{ca: true}` the CA first (publishing the
   * new caBundle, then waiting `caPropagationDelayMs`). Serialised with scheduled rotations.
   * Rejects with WEBHOOK_INVALID_CONFIG for `{ca: true}` when `register` is false.
   */
  rotateNow(opts?: { ca?: boolean }): Promise<void>;
  /** Stops the rotation timer and the server (and unregisters when asked to). Leaves the informers to the factory's owner. */
  stop(): Promise<void>;
}

const anyAddress = new Set(['0.0.0.0', '::', '']);

function servingHosts(mode: 'url' | 'service', advertise: string, service: StartWebhooksOptions['service']): string[] {
  if (mode === 'service') {
    const { name, namespace } = service!;
    return [`${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`, `${name}.${namespace}`, name];
  }
  return [...new Set([advertise, '127.0.0.1', 'localhost'])];
}

/**
 * Starts the webhooks: lookup caches (waits for their first sync), the
 * HTTPS server, the configurations, and a timer that rotates certificates
 * before they expire. Throws WEBHOOK_INVALID_CONFIG for inconsistent options,
 * WEBHOOK_REGISTRATION_FAILED when the configurations cannot be applied,
 * CTRL_CACHE_SYNC_TIMEOUT when the caches do not sync.
 */
export async function startWebhooks(opts: StartWebhooksOptions): Promise<Webhooks> {
  const log = (opts.log ?? createLogger()).child({ component: 'webhooks' });
  const mode = opts.mode ?? 'url';
  const host = opts.host ?? '127.0.0.1';
  if (mode === 'service' && !opts.service) throw new WebhookError('WEBHOOK_INVALID_CONFIG', 'mode "service" needs service: {namespace, name}; pass the Service in front of the webhook pods');
  const advertise = opts.advertiseHost ?? (anyAddress.has(host) ? '127.0.0.1' : host);
  const client = new KubeClient(opts.kubeConfig);
  const lookups = new InformerLookups(opts.informers, client);
  for (const inf of lookups.informers()) inf.start();
  await Promise.all(lookups.informers().map((i) => i.waitForSync(opts.cacheSyncTimeoutMs ?? 60_000)));

  const certs = await WebhookCertificates.load({
    hosts: servingHosts(mode, advertise, opts.service),
    ...(opts.certDir ? { certDir: opts.certDir } : {}),
    ...(opts.caValidityDays ? { caValidityDays: opts.caValidityDays } : {}),
    ...(opts.servingValidityDays ? { servingValidityDays: opts.servingValidityDays } : {}),
    ...(opts.rotateFraction ? { rotateFraction: opts.rotateFraction } : {}),
  });
  const server = new WebhookServer({ webhooks: opts.webhooks ?? webhookDefinitions, lookups, tls: certs.serving, host, port: opts.port ?? 9443, log,
    ...(opts.keepAlive === false ? { keepAlive: false } : {}) });
  const bound = await server.listen();
  const urlHost = isIP(advertise) === 6 ? `[${advertise}]` : advertise;
  const url = `https://${urlHost}:${bound.port}`;
  const target: ClientTarget = mode === 'url' ? { url } : { service: opts.service! };
  const registration = new WebhookRegistration(client, (caBundlePem) => webhookConfigurations(opts.webhooks ?? webhookDefinitions, {
    name: opts.configurationName ?? 'outpost',
    target,
    caBundlePem,
    labels: { 'app.kubernetes.io/managed-by': 'outpost' },
    ...(opts.objectSelector ? { objectSelector: opts.objectSelector } : {}),
    ...(opts.namespaceSelector ? { namespaceSelector: opts.namespaceSelector } : {}),
  }), log);
  const register = opts.register ?? true;
  try {
    if (register) await registration.apply(certs.caBundle);
  } catch (err) {
    await server.close();
    throw err;
  }

  let chain: Promise<void> = Promise.resolve();
  const rotate = (ca: boolean): Promise<void> => {
    if (ca && !register) {
      // Nobody here can publish the new CA, so the API server would stop trusting us.
      return Promise.reject(new WebhookError('WEBHOOK_INVALID_CONFIG', 'cannot rotate the webhook CA with register: false; rotate it together with the caBundle of the configurations you manage'));
    }
    const run = async () => {
      if (ca) {
        await certs.rotateCa();
        await registration.apply(certs.caBundle);
        log.info('Rotated webhook CA; waiting before serving a certificate it signed', { delayMs: opts.caPropagationDelayMs ?? 10_000 });
        await new Promise((r) => setTimeout(r, opts.caPropagationDelayMs ?? 10_000));
      }
      await certs.rotateServing();
      server.setCertificate(certs.serving);
      log.info('Rotated webhook serving certificate', { ca });
    };
    const next = chain.then(run);
    chain = next.catch(() => undefined);
    return next;
  };
  const timer = setInterval(() => {
    const due = certs.due();
    if (due.ca || due.serving) rotate(due.ca && register).catch((err: unknown) => log.error('Failed to rotate webhook certificates', { err }));
  }, opts.rotationCheckIntervalMs ?? 3_600_000);
  timer.unref();

  log.info('Started webhooks', { mode, url: mode === 'url' ? url : undefined, webhooks: (opts.webhooks ?? webhookDefinitions).length });
  return {
    address: { host: bound.host, port: bound.port, url },
    server,
    caBundle: () => certs.caBundle,
    rotateNow: (o = {}) => rotate(o.ca ?? false),
    stop: async () => {
      clearInterval(timer);
      await chain;
      if (register && opts.unregisterOnStop) await registration.remove();
      await server.close();
    },
  };
}
