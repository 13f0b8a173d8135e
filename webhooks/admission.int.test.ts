/**
 * The webhooks against the real control plane: the API server calls our
 * server (in this process, url mode on 127.0.0.1, registered by the
 * registration manager with our caBundle). Every invalid fixture is rejected
 * with its message, every sample is accepted, warnings reach kubectl, the
 * offline toleration lands on a pod, and rotating the serving certificate and
 * the CA under a stream of creates fails no admission.
 *
 * The cluster is shared with other test runs, so this run's configurations
 * only see objects labelled with its run id (objectSelector), fixture names
 * starting with `adm-` (cluster-scoped objects) get the run id, and the
 * configurations are deleted at the end.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { KubeClient, SharedInformerFactory } from '../controllers/runtime/index.ts';
import { createLogger } from '../lib/log.ts';
import { createNamespace, deleteNamespace, installCrds, kubeConfig, kubectl, kubectlOk } from '../test/support/kube.ts';
import { InformerLookups, startWebhooks, type Webhooks } from './index.ts';

const root = join(import.meta.dirname, '..');
const fixturesDir = join(root, 'test', 'fixtures', 'admission', 'invalid');
const samplesDir = join(root, 'config', 'samples');
const run = randomBytes(3).toString('hex');
const runLabelKey = 'outpost.io/admission-test';
const log = createLogger({ level: 'warn' });

let client: KubeClient;
let factory: SharedInformerFactory;
let webhooks: Webhooks | undefined;
let nsFixtures = '';
let nsWarn = '';
let createdEdgeNode1 = false;

/**
 * Adds the run label to every document of a YAML text. The result is JSON documents: kubectl reads
 * YAML 1.1, where a plain `yes` would become a boolean.
 */
function labelled(text: string): string {
  return YAML.parseAllDocuments(text).map((d) => {
    const obj = d.toJS() as k8s.KubernetesObject;
    obj.metadata = { ...obj.metadata, labels: { ...obj.metadata?.labels, [runLabelKey]: run } };
    return JSON.stringify(obj);
  }).join('\n---\n');
}

const denyProbe = (ns: string) => labelled(`apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: {name: probe, namespace: ${ns}}
spec: {deviceModelRef: {name: probe-missing-model}}
`);
const autonomyPod = (name: string, labels: Record<string, string>) => labelled(YAML.stringify({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
  spec: { tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }], containers: [{ name: 'c', image: 'busybox:1.36' }] },
}));

/** Polls `check` until it is true; throws with `what` after `timeoutMs` (expect.poll only works inside tests). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    if (await check()) return;
  }
  throw new Error(`timed out waiting until ${what}`);
}

/** Waits until the API server really calls the webhooks (configurations take effect asynchronously). */
async function waitForWebhooks(): Promise<void> {
  await until('the API server calls the validating webhooks', async () =>
    (await kubectl(['create', '--dry-run=server', '-n', nsWarn, '-f', '-'], denyProbe(nsWarn))).stderr.includes('admission webhook "devices.validate.outpost.io" denied the request'));
  await until('the API server calls the mutating webhook', async () => {
    const r = await kubectl(['create', '--dry-run=server', '-n', nsWarn, '-o', 'json', '-f', '-'], autonomyPod('probe', { 'app-offline.kubeedge.io': 'autonomy' }));
    return r.code === 0 && !!(JSON.parse(r.stdout) as k8s.V1Pod).spec?.tolerations?.some((t) => t.key === 'node.kubernetes.io/unreachable' && t.tolerationSeconds === undefined);
  });
}

beforeAll(async () => {
  await installCrds();
  const kc = kubeConfig();
  client = new KubeClient(kc);
  nsFixtures = await createNamespace('adm-fx');
  nsWarn = await createNamespace('adm-warn');
  await kubectlOk(['label', 'namespace', nsFixtures, 'outpost.io/edge-policy=enforce']);
  if ((await kubectl(['get', 'node', 'edge-node-1'])).code !== 0) {
    createdEdgeNode1 = true;
    await kubectlOk(['create', '-f', '-'], labelled('{"apiVersion":"v1","kind":"Node","metadata":{"name":"edge-node-1","labels":{"node-role.kubernetes.io/edge":""}}}'));
  }
  factory = new SharedInformerFactory({ client, log });
  webhooks = await startWebhooks({
    kubeConfig: kc, informers: factory, log, port: 0,
    configurationName: `outpost-test-${run}`, objectSelector: { matchLabels: { [runLabelKey]: run } },
    unregisterOnStop: true, caPropagationDelayMs: 3_000,
    // Every admission is a new TLS handshake, so the rotation test sees the certificate actually served.
    keepAlive: false,
  });
  await waitForWebhooks();
});

afterAll(async () => {
  await webhooks?.stop();
  factory?.stop();
  const selector = `${runLabelKey}=${run}`;
  for (const ns of [nsFixtures, nsWarn]) await kubectl(['delete', 'pods', '--all', '-n', ns, '--force', '--grace-period=0', '--wait=false']);
  await kubectl(['delete', 'nodegroups.apps.kubeedge.io,nodes', '-l', selector, '--wait=false']);
  if (!createdEdgeNode1) await kubectl(['label', 'node', 'edge-node-1', `${runLabelKey}-`]);
  await deleteNamespace(nsFixtures);
  await deleteNamespace(nsWarn);
});

describe('invalid manifests are rejected by the webhooks with a message that names the field and the fix', () => {
  const files = readdirSync(fixturesDir).filter((f) => f.endsWith('.yaml')).sort();
  it('has at least 50 cases', () => expect(files.length).toBeGreaterThanOrEqual(50));

  it.each(files)('%s', async (file) => {
    const text = readFileSync(join(fixturesDir, file), 'utf8').replaceAll('adm-', `adm-${run}-`);
    expect(text.split('\n')[0], `${file}: first line must be "# expect: <fragment>"`).toMatch(/^# expect: /);
    const expected = [...text.matchAll(/^# expect: (.+)$/gm)].map((m) => m[1]!.trim());
    const docs = YAML.parseAllDocuments(text).map((d) => JSON.stringify(d.toJS()));
    for (const prerequisite of docs.slice(0, -1)) await kubectlOk(['apply', '-n', nsFixtures, '-f', '-'], labelled(prerequisite));
    const last = labelled(docs.at(-1)!);
    const r = /^# op: delete$/m.test(text)
      ? await kubectl(['delete', '-n', nsFixtures, '-f', '-'], last)
      : await kubectl(['apply', '-n', nsFixtures, '-f', '-'], last);
    expect(r.code, `${file} was accepted: ${r.stdout}`).not.toBe(0);
    expect(r.stderr).toMatch(/admission webhook "[a-z.-]+\.outpost\.io" denied the request/);
    for (const fragment of expected) expect(r.stderr).toContain(fragment);
  });
});

describe('samples', () => {
  const files = readdirSync(samplesDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
  // The kustomization order: models before the devices that use them.
  const ordered = [...files].sort((a, b) => Number(b.includes('devicemodel')) - Number(a.includes('devicemodel')));

  it.each(ordered)('%s is accepted', async (file) => {
    for (const doc of YAML.parseAllDocuments(readFileSync(join(samplesDir, file), 'utf8'))) {
      const obj = doc.toJS() as k8s.KubernetesObject;
      // NodeGroups are cluster-scoped and the sample names are shared with other tests: dry-run them.
      const dryRun = obj.kind === 'NodeGroup' ? ['--dry-run=server'] : [];
      const r = await kubectl(['apply', ...dryRun, '-n', nsWarn, '-f', '-'], labelled(JSON.stringify(obj)));
      expect(r.stderr).not.toMatch(/denied|Error/);
      expect(r.code).toBe(0);
    }
  });
});

describe('warnings', () => {
  it('kubectl prints edge best-practice warnings for an edge pod', async () => {
    const pod = labelled(YAML.stringify({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'careless' },
      spec: {
        nodeSelector: { 'node-role.kubernetes.io/edge': '' },
        volumes: [{ name: 'data', hostPath: { path: '/srv/data' } }],
        containers: [{ name: 'app', image: 'nginx:latest', securityContext: { privileged: true }, volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      },
    }));
    const r = await kubectl(['apply', '--dry-run=server', '-n', nsWarn, '-f', '-'], pod);
    expect(r.code).toBe(0);
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('Warning: '));
    expect(warnings).toEqual([
      'Warning: spec.containers[0].resources.limits: container "app" sets no cpu and memory limit; set limits.cpu and limits.memory so one workload cannot starve the edge node',
      'Warning: spec.containers[0].image: "nginx:latest" is pulled on every start (imagePullPolicy Always), which fails while the edge node is offline; pin a version like "nginx:<version>" and use imagePullPolicy IfNotPresent',
      'Warning: spec.containers[0].securityContext.privileged: container "app" is privileged; remove privileged and add only the capabilities it needs under securityContext.capabilities.add',
      'Warning: spec.containers[0].volumeMounts[0]: hostPath volume "data" (/srv/data) is mounted read-write; set readOnly: true, or use a local PersistentVolume for data the pod writes',
    ]);
  });

  it('the same pod is denied in a namespace labelled outpost.io/edge-policy=enforce', async () => {
    const pod = labelled('{"apiVersion":"v1","kind":"Pod","metadata":{"name":"careless"},"spec":{"nodeSelector":{"node-role.kubernetes.io/edge":""},"containers":[{"name":"app","image":"nginx:1.27"}]}}');
    const r = await kubectl(['apply', '--dry-run=server', '-n', nsFixtures, '-f', '-'], pod);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('admission webhook "edge-workloads.validate.outpost.io" denied the request: spec.containers[0].resources.limits: container "app" sets no cpu and memory limit');
  });

  it('kubectl prints a warning for an EdgeApplication that targets a NodeGroup that does not exist yet', async () => {
    const app = labelled(YAML.stringify({
      apiVersion: 'apps.kubeedge.io/v1alpha1', kind: 'EdgeApplication', metadata: { name: 'later' },
      spec: { workloadTemplate: { manifests: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg' } }] }, workloadScope: { targetNodeGroups: [{ name: `adm-${run}-nowhere` }] } },
    }));
    const r = await kubectl(['apply', '-n', nsWarn, '-f', '-'], app);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Warning: spec.workloadScope.targetNodeGroups[0].name: NodeGroup "adm-${run}-nowhere" does not exist yet; nothing is deployed for it until it is created`);
  });
});

describe('offline autonomy', () => {
  it('a pod labelled app-offline.kubeedge.io=autonomy tolerates unreachable and not-ready forever', async () => {
    const out = await kubectlOk(['create', '-n', nsWarn, '-o', 'json', '-f', '-'], autonomyPod('autonomous', { 'app-offline.kubeedge.io': 'autonomy' }));
    const created = JSON.parse(out) as k8s.V1Pod;
    const stored = JSON.parse(await kubectlOk(['get', 'pod', 'autonomous', '-n', nsWarn, '-o', 'json'])) as k8s.V1Pod;
    for (const pod of [created, stored]) {
      const offline = (pod.spec?.tolerations ?? []).filter((t) => t.key === 'node.kubernetes.io/unreachable' || t.key === 'node.kubernetes.io/not-ready');
      expect(offline).toEqual([
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' },
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute' },
      ]);
    }
  });

  it('other pods keep their tolerations', async () => {
    const pod = JSON.parse(await kubectlOk(['create', '-n', nsWarn, '-o', 'json', '-f', '-'], autonomyPod('ordinary', { app: 'x' }))) as k8s.V1Pod;
    expect(pod.spec?.tolerations).toContainEqual({ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 });
  });
});

describe('lookups', () => {
  it('reads an object the cache does not have from the API server', async () => {
    await kubectlOk(['apply', '-n', nsWarn, '-f', '-'], labelled('{"apiVersion":"devices.kubeedge.io/v1beta1","kind":"DeviceModel","metadata":{"name":"live-read"},"spec":{"protocol":"modbus"}}'));
    // A factory that is never started: every get misses its cache.
    const cold = new InformerLookups(new SharedInformerFactory({ client, log }), client);
    expect(await cold.run((l) => l.deviceModel(nsWarn, 'live-read')?.spec?.protocol)).toBe('modbus');
    expect(await cold.run((l) => l.deviceModel(nsWarn, 'no-such-model'))).toBeUndefined();
    expect(await cold.run((l) => l.devices(nsWarn).map((d) => d.metadata?.name))).toContain('kubeedge-counter');
  });
});

describe('certificate rotation', () => {
  it('rotating the serving certificate and the CA fails no admission', async () => {
    const servedBefore = webhooks!.caBundle();
    let stop = false;
    const failures: string[] = [];
    let created = 0;
    const hammer = async (worker: number) => {
      for (let i = 0; !stop; i++) {
        const model = { apiVersion: 'devices.kubeedge.io/v1beta1', kind: 'DeviceModel', metadata: { name: `hammer-${worker}-${i}`, namespace: nsWarn, labels: { [runLabelKey]: run } }, spec: { protocol: 'modbus' } };
        try {
          await client.create(model);
          created++;
        } catch (err) {
          failures.push((err as Error).message);
        }
        // And one the webhook must deny: a failed call would not say "denied".
        const denied = await kubectl(['create', '--dry-run=server', '-n', nsWarn, '-f', '-'], denyProbe(nsWarn));
        if (!denied.stderr.includes('denied the request: spec.deviceModelRef.name')) failures.push(denied.stderr);
      }
    };
    const workers = [0, 1, 2, 3].map(hammer);
    await new Promise((r) => setTimeout(r, 1_000));
    await webhooks!.rotateNow();
    await new Promise((r) => setTimeout(r, 1_000));
    await webhooks!.rotateNow({ ca: true });
    await new Promise((r) => setTimeout(r, 1_000));
    await webhooks!.rotateNow();
    await new Promise((r) => setTimeout(r, 1_000));
    stop = true;
    await Promise.all(workers);
    expect(failures).toEqual([]);
    expect(created).toBeGreaterThan(20);

    // The configuration now trusts the new CA and still the old one.
    const vwc = await client.request<k8s.V1ValidatingWebhookConfiguration>('GET', `/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/outpost-test-${run}-validating`);
    const bundle = Buffer.from(vwc.webhooks![0]!.clientConfig.caBundle!, 'base64').toString();
    expect(bundle).toBe(webhooks!.caBundle());
    expect(bundle.split('BEGIN CERTIFICATE').length - 1).toBe(2);
    expect(bundle).toContain(servedBefore.trim());
    const newCa = new X509Certificate(bundle.slice(0, bundle.indexOf('-----END CERTIFICATE-----') + 25));
    expect(newCa.toString()).not.toBe(new X509Certificate(servedBefore).toString());
  });
});
