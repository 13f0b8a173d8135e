import * as k8s from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { hasCode } from '../lib/errors.ts';
import { SharedInformerFactory, KubeClient } from '../controllers/runtime/index.ts';
import { startWebhooks } from './index.ts';

describe('startWebhooks', () => {
  it('rejects service mode without a Service before touching the API server', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const err = await startWebhooks({ kubeConfig: kc, informers: new SharedInformerFactory({ client: new KubeClient(kc) }), mode: 'service' }).catch((e: unknown) => e);
    expect(hasCode(err, 'WEBHOOK_INVALID_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('mode "service" needs service: {namespace, name}');
  });
});
