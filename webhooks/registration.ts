/**
 * Keeps the ValidatingWebhookConfiguration and MutatingWebhookConfiguration
 * in the API server in line with the declaration and the current caBundle,
 * by server-side apply under one field manager (create-or-update in one
 * idempotent call; webhooks this manager applied before and no longer
 * declares are removed by the apply itself).
 */
import type { KubeClient } from '../controllers/runtime/index.ts';
import { KubeApiError } from '../controllers/runtime/index.ts';
import type { Logger } from '../lib/log.ts';
import { WebhookError } from './errors.ts';
import type { WebhookConfigurations } from './manifests.ts';

/** The field manager of every configuration write. */
export const webhookFieldManager = 'outpost-webhooks';

const paths = {
  validating: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
  mutating: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
} as const;

/** Applies and removes the two configurations that `render(caBundlePem)` returns. */
export class WebhookRegistration {
  readonly #client: KubeClient;
  readonly #render: (caBundlePem: string) => WebhookConfigurations;
  readonly #log: Logger;

  constructor(client: KubeClient, render: (caBundlePem: string) => WebhookConfigurations, log: Logger) {
    this.#client = client;
    this.#render = render;
    this.#log = log;
  }

  /**
   * Server-side applies both configurations with `caBundlePem` (force: this
   * manager owns them). Idempotent. Throws WEBHOOK_REGISTRATION_FAILED.
   */
  async apply(caBundlePem: string): Promise<void> {
    const configs = this.#render(caBundlePem);
    for (const which of ['validating', 'mutating'] as const) {
      const obj = configs[which];
      const name = obj.metadata!.name!;
      try {
        await this.#client.request('PATCH', `${paths[which]}/${encodeURIComponent(name)}`, {
          body: obj,
          contentType: 'application/apply-patch+yaml',
          query: { fieldManager: webhookFieldManager, force: 'true' },
        });
      } catch (err) {
        throw new WebhookError('WEBHOOK_REGISTRATION_FAILED', `could not apply ${obj.kind} ${name} (${(err as Error).message}); check that RBAC allows patch on ${paths[which].split('/').pop()}`, { cause: err });
      }
      this.#log.info(`Applied ${obj.kind}`, { name, webhooks: obj.webhooks?.length ?? 0 });
    }
  }

  /** Deletes both configurations; absent ones are fine. Throws WEBHOOK_REGISTRATION_FAILED. */
  async remove(): Promise<void> {
    const configs = this.#render('');
    for (const which of ['validating', 'mutating'] as const) {
      const name = configs[which].metadata!.name!;
      try {
        await this.#client.request('DELETE', `${paths[which]}/${encodeURIComponent(name)}`);
        this.#log.info(`Deleted ${configs[which].kind}`, { name });
      } catch (err) {
        if (err instanceof KubeApiError && err.statusCode === 404) continue;
        throw new WebhookError('WEBHOOK_REGISTRATION_FAILED', `could not delete ${configs[which].kind} ${name} (${(err as Error).message})`, { cause: err });
      }
    }
  }
}
