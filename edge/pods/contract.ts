/**
 * The pod runtime contract suite (STYLE.md: "Shared contract suites run
 * against every implementation of a port"): the same pods, through the real
 * PodManager and a real edge store, against each PodRuntime. The cloud is
 * played by writing objects into the store the way EdgeHub applies them, and
 * "reported upstream" means a `pod-status` report in the durable outbox.
 *
 * Commands are POSIX sh that both the host's /bin/sh (process runtime) and
 * the busybox image (CRI runtime) run; mount paths live under
 * /opt/outpost-contract, which the process runtime creates on the host as
 * empty mount points.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { openEdgeStore, type EdgeStore } from '../store/store.ts';
import { PodManager } from './manager.ts';
import type { PodRuntime } from './runtime.ts';
import type { Container, Pod, PodStatus } from './types.ts';
import { stubToken } from './volumes.ts';
import { freePort } from '../../lib/ports.ts';

export interface ContractTarget {
  /** A fresh runtime (called again to simulate an agent restart). */
  runtime(): Promise<PodRuntime>;
  /** Image for the containers (the CRI runtime needs one; the process runtime ignores it). */
  image: string;
  /** containerID scheme in statuses. */
  scheme: string;
  /** Called once at the end. */
  cleanup?(): Promise<void>;
}

const log = createLogger({ level: process.env.OUTPOST_TEST_LOG === '1' ? 'debug' : 'warn' });
const node = 'contract-node';
const base = '/opt/outpost-contract';

/** Runs the suite against `name`'s runtime. */
export function podRuntimeContract(name: string, target: () => Promise<ContractTarget>): void {
  describe(`pod runtime contract: ${name}`, () => {
    let t: ContractTarget;
    let dir: string;
    let store: EdgeStore;
    let runtime: PodRuntime;
    let manager: PodManager;
    let seq = 0;
    const ns = `c-${randomUUID().slice(0, 6)}`;
    const pods: string[] = [];

    const start = async () => {
      runtime = await t.runtime();
      manager = new PodManager({
        nodeName: node, store, runtime, dataDir: dir, log,
        facts: { hostIP: '127.0.0.1', podIP: '127.0.0.1', allocatable: { cpu: '2', memory: '4Gi' } },
        backoff: { initialMs: 1000, maxMs: 4000 }, retryMs: 500,
      });
      await manager.start();
    };

    beforeAll(async () => {
      t = await target();
      dir = mkdtempSync(join(tmpdir(), `outpost-contract-${name}-`));
      store = openEdgeStore(join(dir, 'edge.db'));
      await start();
    }, 60_000);

    afterAll(async () => {
      for (const p of new Set(pods)) if (store.objects.get(`v1/Pod/${ns}/${p}`)) del(`v1/Pod/${ns}/${p}`);
      for (let i = 0; i < 300 && manager.podCount > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(manager.podCount).toBe(0);
      await manager.stop();
      await runtime.close();
      store.close();
      rmSync(dir, { recursive: true, force: true });
      // the process runtime's mount points on the host (empty directories)
      for (const d of ['init', 'vol', 'live', 'ready']) rmSync(`${base}/${d}-${ns}`, { recursive: true, force: true });
      await t.cleanup?.();
    }, 60_000);

    const apply = (o: object) => {
      const obj = o as { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; resourceVersion?: string } };
      seq++;
      const rv = String(seq);
      obj.metadata.resourceVersion = rv;
      store.objects.applyBatch([{ op: 'upsert', key: `${obj.apiVersion}/${obj.kind}/${obj.metadata.namespace ?? ''}/${obj.metadata.name}`, rv, body: JSON.stringify(obj) }], { session: 's', seq });
    };
    const del = (key: string) => {
      seq++;
      store.objects.applyBatch([{ op: 'delete', key }], { session: 's', seq });
    };
    const c = (cname: string, script: string, extra: Partial<Container> = {}): Container => ({ name: cname, image: t.image, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', script], ...extra });
    const pod = (pname: string, spec: Partial<Pod['spec']> & { containers: Container[] }, meta: Partial<Pod['metadata']> = {}): Pod => {
      pods.push(pname);
      return {
        apiVersion: 'v1', kind: 'Pod',
        metadata: { name: pname, namespace: ns, uid: randomUUID(), labels: { app: pname }, annotations: { note: 'contract' }, ...meta },
        spec: { nodeName: node, restartPolicy: 'Always', terminationGracePeriodSeconds: 5, ...spec },
        status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
      };
    };
    const status = (pname: string): PodStatus | undefined => manager.status(ns, pname);
    const cs = (pname: string, i = 0) => status(pname)?.containerStatuses?.[i];
    const logs = async (pname: string, container?: string, previous = false): Promise<string> => {
      const parts: Buffer[] = [];
      try {
        for await (const ch of manager.logs(ns, pname, container, { previous })) parts.push(ch);
      } catch {
        return '';
      }
      return Buffer.concat(parts).toString();
    };
    const reported = (pname: string) => store.outbox.pending(100_000).filter((e) => e.kind === 'pod-status' && e.key === `v1/Pod/${ns}/${pname}`).at(-1)?.payload as { uid: string; status?: PodStatus; deleted?: boolean } | undefined;
    const cond = (s: PodStatus | undefined, type: string) => s?.conditions?.find((x) => x.type === type)?.status;

    it('runs a pod and reports phase, conditions and containerStatuses upstream', async () => {
      const p = pod('basic', { containers: [c('main', 'echo started; exec sleep 3600')] });
      apply(p);
      await expect.poll(() => status('basic')?.phase, { timeout: 15_000 }).toBe('Running');
      await expect.poll(() => cond(status('basic'), 'Ready'), { timeout: 5000 }).toBe('True');
      const s = status('basic')!;
      expect(cond(s, 'Initialized')).toBe('True');
      expect(cond(s, 'ContainersReady')).toBe('True');
      expect(cond(s, 'PodReadyToStartContainers')).toBe('True');
      expect(cond(s, 'PodScheduled')).toBe('True'); // kept from the pod: a merge patch replaces the whole list
      expect(s.hostIP).toBe('127.0.0.1');
      expect(s.podIP).toBe('127.0.0.1');
      expect(s.startTime).toMatch(/Z$/);
      const st = s.containerStatuses![0]!;
      expect(st).toMatchObject({ name: 'main', ready: true, started: true, restartCount: 0, image: t.image });
      expect(st.state.running?.startedAt).toBeTruthy();
      expect(st.containerID).toMatch(new RegExp(`^${t.scheme}://`));
      await expect.poll(() => reported('basic')?.status?.phase, { timeout: 5000 }).toBe('Running');
      expect(reported('basic')!.uid).toBe(p.metadata.uid);
      await expect.poll(() => logs('basic'), { timeout: 5000 }).toContain('started');
    });

    it('reports container CPU and memory usage for the kubelet stats API (kubectl top)', async () => {
      // a busy loop for a second (measurable CPU time), then idle
      apply(pod('busy', { containers: [c('main', 'i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 3600')] }));
      await expect.poll(() => status('busy')?.phase, { timeout: 15_000 }).toBe('Running');
      const usage = async () => (await manager.stats()).find((p) => p.namespace === ns && p.name === 'busy')?.containers.find((x) => x.name === 'main')?.usage;
      await expect.poll(async () => (await usage())?.cpuNanos ?? 0, { timeout: 15_000 }).toBeGreaterThan(0);
      const u = (await usage())!;
      expect(u.workingSetBytes).toBeGreaterThan(0);
      expect(Math.abs(u.timestamp - Date.now())).toBeLessThan(60_000);
    });

    it('restartPolicy Always: restarts a crashing container with crash-loop backoff', async () => {
      apply(pod('crash', { containers: [c('main', 'echo run; exit 3')] }));
      const t0 = Date.now();
      let sawBackoff = false;
      await expect.poll(() => {
        if (cs('crash')?.state.waiting?.reason === 'CrashLoopBackOff') sawBackoff = true;
        return cs('crash')?.restartCount ?? 0;
      }, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(3);
      // restarts 2 and 3 wait 1 s and 2 s (base 1 s, doubling)
      expect(Date.now() - t0).toBeGreaterThanOrEqual(2500);
      expect(sawBackoff).toBe(true);
      const s = cs('crash')!;
      expect(s.lastState.terminated).toMatchObject({ exitCode: 3, reason: 'Error' });
      expect(status('crash')!.phase).toBe('Running');
      await expect.poll(() => logs('crash', 'main', true), { timeout: 5000 }).toContain('run');
    });

    it('restartPolicy OnFailure: a success completes the pod, a failure restarts', async () => {
      apply(pod('onfail-ok', { restartPolicy: 'OnFailure', containers: [c('main', 'echo done; exit 0')] }));
      apply(pod('onfail-bad', { restartPolicy: 'OnFailure', containers: [c('main', 'exit 1')] }));
      await expect.poll(() => status('onfail-ok')?.phase, { timeout: 15_000 }).toBe('Succeeded');
      expect(cs('onfail-ok')).toMatchObject({ restartCount: 0, ready: false });
      expect(cs('onfail-ok')!.state.terminated).toMatchObject({ exitCode: 0, reason: 'Completed' });
      expect(status('onfail-ok')!.conditions!.find((x) => x.type === 'Ready')).toMatchObject({ status: 'False', reason: 'PodCompleted' });
      await expect.poll(() => cs('onfail-bad')?.restartCount ?? 0, { timeout: 15_000 }).toBeGreaterThanOrEqual(1);
      expect(status('onfail-bad')!.phase).toBe('Running');
      await expect.poll(() => reported('onfail-ok')?.status?.phase, { timeout: 5000 }).toBe('Succeeded');
    });

    it('restartPolicy Never: a failure fails the pod and nothing restarts', async () => {
      apply(pod('never', { restartPolicy: 'Never', containers: [c('main', 'exit 2')] }));
      await expect.poll(() => status('never')?.phase, { timeout: 15_000 }).toBe('Failed');
      await new Promise((r) => setTimeout(r, 1500));
      expect(cs('never')).toMatchObject({ restartCount: 0 });
      expect(cs('never')!.state.terminated).toMatchObject({ exitCode: 2, reason: 'Error' });
    });

    it('runs init containers in order, to completion, before the app', async () => {
      const dirPath = `${base}/init-${ns}`;
      apply(pod('init', {
        initContainers: [
          c('first', `echo -n a > ${dirPath}/out`, { volumeMounts: [{ name: 'work', mountPath: dirPath }] }),
          c('second', `echo -n b >> ${dirPath}/out`, { volumeMounts: [{ name: 'work', mountPath: dirPath }] }),
        ],
        containers: [c('main', `echo "got $(cat ${dirPath}/out)"; exec sleep 3600`, { volumeMounts: [{ name: 'work', mountPath: dirPath }] })],
        volumes: [{ name: 'work', emptyDir: {} }],
      }));
      await expect.poll(() => status('init')?.phase, { timeout: 20_000 }).toBe('Running');
      await expect.poll(() => logs('init', 'main'), { timeout: 5000 }).toContain('got ab');
      const s = status('init')!;
      expect(s.initContainerStatuses!.map((x) => [x.name, x.state.terminated?.exitCode, x.state.terminated?.reason])).toEqual([['first', 0, 'Completed'], ['second', 0, 'Completed']]);
      expect(cond(s, 'Initialized')).toBe('True');
    });

    it('retries a failing init container (OnFailure) and fails the pod on it (Never)', async () => {
      apply(pod('init-retry', { restartPolicy: 'OnFailure', initContainers: [c('setup', 'exit 1')], containers: [c('main', 'exec sleep 3600')] }));
      apply(pod('init-never', { restartPolicy: 'Never', initContainers: [c('setup', 'exit 1')], containers: [c('main', 'exec sleep 3600')] }));
      await expect.poll(() => status('init-retry')?.initContainerStatuses?.[0]?.restartCount ?? 0, { timeout: 20_000 }).toBeGreaterThanOrEqual(1);
      expect(status('init-retry')!.phase).toBe('Pending');
      expect(cond(status('init-retry'), 'Initialized')).toBe('False');
      expect(cs('init-retry')!.state.waiting?.reason).toBe('PodInitializing');
      await expect.poll(() => status('init-never')?.phase, { timeout: 15_000 }).toBe('Failed');
      expect(cs('init-never')!.state.waiting?.reason).toBe('PodInitializing');
      expect(manager.record(ns, 'init-never')!.containers.main).toBeUndefined();
    });

    it('resolves env: values, $(VAR), ConfigMap and Secret keys, envFrom, fieldRef and resourceFieldRef', async () => {
      apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'env-cm', namespace: ns }, data: { color: 'blue', 'size': 'L' } });
      apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'env-secret', namespace: ns }, data: { password: Buffer.from('s3cr3t').toString('base64') } });
      const p = pod('env', {
        containers: [c('main', 'env | sort; exec sleep 3600', {
          resources: { limits: { memory: '64Mi' } },
          envFrom: [{ configMapRef: { name: 'env-cm' }, prefix: 'CM_' }, { secretRef: { name: 'env-secret' } }],
          env: [
            { name: 'PLAIN', value: 'hello' },
            { name: 'EXPANDED', value: '$(PLAIN)-world-$(CM_color)-$$(PLAIN)' },
            { name: 'COLOR', valueFrom: { configMapKeyRef: { name: 'env-cm', key: 'color' } } },
            { name: 'PASS', valueFrom: { secretKeyRef: { name: 'env-secret', key: 'password' } } },
            { name: 'MISSING_OK', valueFrom: { configMapKeyRef: { name: 'nope', key: 'x', optional: true } } },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
            { name: 'POD_APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
            { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          ],
        })],
      });
      apply(p);
      await expect.poll(() => logs('env'), { timeout: 15_000 }).toContain('PLAIN=hello');
      const out = await logs('env');
      for (const line of ['EXPANDED=hello-world-blue-$(PLAIN)', 'COLOR=blue', 'CM_color=blue', 'CM_size=L', 'password=s3cr3t', 'PASS=s3cr3t',
        'POD_NAME=env', `POD_NS=${ns}`, `POD_UID=${p.metadata.uid}`, 'POD_APP=env', `NODE=${node}`, 'POD_IP=127.0.0.1', 'MEM_MI=64']) {
        expect(out.split('\n')).toContain(line);
      }
      expect(out).not.toContain('MISSING_OK');
    });

    it('waits with CreateContainerConfigError for a missing ConfigMap and starts when it arrives', async () => {
      apply(pod('late-cm', { containers: [c('main', 'echo "value=$V"; exec sleep 3600', { env: [{ name: 'V', valueFrom: { configMapKeyRef: { name: 'late', key: 'v' } } }] })] }));
      await expect.poll(() => cs('late-cm')?.state.waiting?.reason, { timeout: 10_000 }).toBe('CreateContainerConfigError');
      expect(cs('late-cm')!.state.waiting!.message).toContain('configmap "late" not found');
      expect(status('late-cm')!.phase).toBe('Pending');
      apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late', namespace: ns }, data: { v: 'arrived' } });
      await expect.poll(() => logs('late-cm'), { timeout: 10_000 }).toContain('value=arrived');
      expect(status('late-cm')!.phase).toBe('Running');
    });

    it('mounts configMap, secret, emptyDir, hostPath, downwardAPI and projected volumes, and updates ConfigMap files', async () => {
      const hostDir = mkdtempSync(join(tmpdir(), 'outpost-hostpath-'));
      writeFileSync(join(hostDir, 'host.txt'), 'from-host');
      apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'vol-cm', namespace: ns }, data: { 'app.conf': 'v1', other: 'x' } });
      apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'kube-root-ca.crt', namespace: ns }, data: { 'ca.crt': 'CERT' } });
      apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vol-secret', namespace: ns }, data: { key: Buffer.from('secret-bytes').toString('base64') } });
      const m = `${base}/vol-${ns}`;
      const script = [
        `echo "cm=$(cat ${m}/cm/conf/app.conf)"`, `echo "cmother=$(ls ${m}/cm)"`, `echo "secret=$(cat ${m}/secret/key)"`,
        `echo "host=$(cat ${m}/host/host.txt)"`, `echo "labels=$(cat ${m}/downward/labels)"`, `echo "podname=$(cat ${m}/downward/name)"`,
        `echo "ca=$(cat ${m}/projected/ca.crt)"`, `echo "projns=$(cat ${m}/projected/namespace)"`, `echo "token=$(head -c 13 ${m}/projected/token)"`,
        `echo shared > ${m}/scratch/from-main`, `echo "ro=$(touch ${m}/cm/x 2>/dev/null && echo writable || echo readonly)"`,
        `while true; do echo "loop=$(cat ${m}/cm/conf/app.conf)"; sleep 0.5; done`,
      ].join('; ');
      const mounts = [
        { name: 'cm', mountPath: `${m}/cm`, readOnly: true }, { name: 'secret', mountPath: `${m}/secret` }, { name: 'scratch', mountPath: `${m}/scratch` },
        { name: 'host', mountPath: `${m}/host` }, { name: 'downward', mountPath: `${m}/downward` }, { name: 'projected', mountPath: `${m}/projected` },
      ];
      apply(pod('volumes', {
        containers: [
          c('main', script, { volumeMounts: mounts }),
          c('side', `sleep 1; echo "side=$(cat ${m}/scratch/from-main)"; exec sleep 3600`, { volumeMounts: [{ name: 'scratch', mountPath: `${m}/scratch` }] }),
        ],
        volumes: [
          { name: 'cm', configMap: { name: 'vol-cm', items: [{ key: 'app.conf', path: 'conf/app.conf' }] } },
          { name: 'secret', secret: { secretName: 'vol-secret', defaultMode: 0o400 } },
          { name: 'scratch', emptyDir: {} },
          { name: 'host', hostPath: { path: hostDir, type: 'Directory' } },
          { name: 'downward', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }, { path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
          { name: 'projected', projected: { sources: [
            { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
            { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
            { downwardAPI: { items: [{ path: 'namespace', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
          ] } },
        ],
      }));
      await expect.poll(() => logs('volumes', 'main'), { timeout: 15_000 }).toContain('loop=v1');
      const out = (await logs('volumes', 'main')).split('\n');
      for (const line of ['cm=v1', 'cmother=conf', 'secret=secret-bytes', 'host=from-host', 'labels=app="volumes"', 'podname=volumes', 'ca=CERT', `projns=${ns}`, `token=${stubToken.slice(0, 13)}`, 'ro=readonly']) {
        expect(out).toContain(line);
      }
      await expect.poll(() => logs('volumes', 'side'), { timeout: 10_000 }).toContain('side=shared');
      apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'vol-cm', namespace: ns }, data: { 'app.conf': 'v2' } });
      await expect.poll(() => logs('volumes', 'main'), { timeout: 10_000 }).toContain('loop=v2');
      rmSync(hostDir, { recursive: true, force: true });
    });

    it('restarts a container whose exec liveness probe fails', async () => {
      const m = `${base}/live-${ns}`;
      apply(pod('liveness', {
        containers: [c('main', `touch ${m}/healthy; sleep 2; rm -f ${m}/healthy; exec sleep 3600`, {
          volumeMounts: [{ name: 'w', mountPath: m }],
          livenessProbe: { exec: { command: ['cat', `${m}/healthy`] }, periodSeconds: 1, failureThreshold: 2, timeoutSeconds: 2 },
        })],
        terminationGracePeriodSeconds: 1,
        volumes: [{ name: 'w', emptyDir: {} }],
      }));
      await expect.poll(() => cs('liveness')?.restartCount ?? 0, { timeout: 30_000 }).toBeGreaterThanOrEqual(1);
      const events = store.outbox.pending(100_000).filter((e) => e.kind === 'event' && e.key === `v1/Pod/${ns}/liveness`).map((e) => (e.payload as { reason: string }).reason);
      expect(events).toContain('Unhealthy');
      expect(events).toContain('Killing');
    });

    it('reports readiness from exec, HTTP and TCP probes', async () => {
      const m = `${base}/ready-${ns}`;
      const port = await freePort();
      apply(pod('readiness', {
        containers: [
          c('exec', `sleep 2; touch ${m}/ready; exec sleep 3600`, {
            volumeMounts: [{ name: 'w', mountPath: m }],
            readinessProbe: { exec: { command: ['cat', `${m}/ready`] }, periodSeconds: 1 },
          }),
          c('http', `exec busybox httpd -f -p 127.0.0.1:${port} -h /etc`, {
            ports: [{ name: 'web', containerPort: port }],
            readinessProbe: { httpGet: { path: '/passwd', port: 'web' }, periodSeconds: 1 },
            livenessProbe: { tcpSocket: { port }, periodSeconds: 1 },
          }),
        ],
        volumes: [{ name: 'w', emptyDir: {} }],
      }));
      await expect.poll(() => status('readiness')?.phase, { timeout: 15_000 }).toBe('Running');
      expect(cs('readiness', 0)!.ready).toBe(false);
      expect(cond(status('readiness'), 'Ready')).toBe('False');
      await expect.poll(() => status('readiness')?.containerStatuses?.map((x) => x.ready), { timeout: 15_000 }).toEqual([true, true]);
      expect(cond(status('readiness'), 'Ready')).toBe('True');
      await new Promise((r) => setTimeout(r, 2500));
      expect(cs('readiness', 1)!.restartCount).toBe(0); // the TCP liveness probe passes
    });

    it('deletes gracefully: SIGTERM, SIGKILL after the grace period, then {deleted: true} upstream', async () => {
      const polite = pod('polite', { terminationGracePeriodSeconds: 30, containers: [c('main', "trap 'echo got TERM; exit 0' TERM; echo up; while true; do sleep 0.2; done")] });
      const stubborn = pod('stubborn', { terminationGracePeriodSeconds: 30, containers: [c('main', "trap '' TERM; echo up; while true; do sleep 0.2; done")] });
      apply(polite);
      apply(stubborn);
      await expect.poll(() => logs('polite'), { timeout: 15_000 }).toContain('up');
      await expect.poll(() => logs('stubborn'), { timeout: 15_000 }).toContain('up');
      const now = new Date().toISOString();
      const t0 = Date.now();
      apply({ ...polite, metadata: { ...polite.metadata, deletionTimestamp: now, deletionGracePeriodSeconds: 30 } });
      apply({ ...stubborn, metadata: { ...stubborn.metadata, deletionTimestamp: now, deletionGracePeriodSeconds: 3 } });
      await expect.poll(() => reported('polite')?.deleted, { timeout: 10_000 }).toBe(true);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(reported('polite')!.uid).toBe(polite.metadata.uid);
      expect(await logs('polite')).toContain('got TERM');
      await expect.poll(() => reported('stubborn')?.deleted, { timeout: 20_000 }).toBe(true);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(2900);
      expect(took).toBeLessThan(15_000);
      // the cloud then deletes the API object; the store delete removes the pod's directories
      const uid = polite.metadata.uid!;
      del(`v1/Pod/${ns}/polite`);
      del(`v1/Pod/${ns}/stubborn`);
      await expect.poll(() => existsSync(join(dir, 'pods', uid)), { timeout: 10_000 }).toBe(false);
      expect(manager.record(ns, 'polite')).toBeUndefined();
    });

    it('adopts running containers after an agent restart instead of restarting them', async () => {
      apply(pod('adopt', { containers: [c('main', 'echo first-run; exec sleep 3600')] }));
      await expect.poll(() => cs('adopt')?.state.running, { timeout: 15_000 }).toBeTruthy();
      const before = cs('adopt')!;
      await manager.stop();
      await runtime.close();
      const t0 = Date.now();
      await start();
      await expect.poll(() => cs('adopt')?.state.running, { timeout: 5000 }).toBeTruthy();
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(cs('adopt')).toMatchObject({ containerID: before.containerID, restartCount: 0, state: before.state });
      expect((await logs('adopt')).match(/first-run/g)).toHaveLength(1);
      // every other pod was adopted too, none restarted
      expect(cs('basic')).toMatchObject({ restartCount: 0 });
      expect(cs('basic')!.state.running).toBeTruthy();
    });

    it('execs, attaches and port-forwards (what kubectl exec/attach/port-forward will use)', async () => {
      const port = await freePort();
      apply(pod('streams', {
        containers: [
          c('main', `exec busybox httpd -f -p 127.0.0.1:${port} -h /etc`),
          c('echo', 'exec cat', { stdin: true }),
        ],
      }));
      await expect.poll(() => status('streams')?.containerStatuses?.every((x) => x.state.running), { timeout: 15_000 }).toBe(true);
      const collect = async (r: NodeJS.ReadableStream | undefined) => {
        const parts: Buffer[] = [];
        if (r) for await (const chunk of r) parts.push(Buffer.from(chunk as Buffer));
        return Buffer.concat(parts).toString();
      };
      const ex = await manager.exec(ns, 'streams', 'main', ['sh', '-c', 'echo out-$((1+1)); echo err >&2; exit 3'], { stdin: false, stdout: true, stderr: true, tty: false });
      const [out, err, exit] = await Promise.all([collect(ex.stdout), collect(ex.stderr), ex.exit]);
      expect({ out, err, exit }).toEqual({ out: 'out-2\n', err: 'err\n', exit: { exitCode: 3 } });
      const at = await manager.attach(ns, 'streams', 'echo', { stdin: true, stdout: true, stderr: false, tty: false });
      let echoed = '';
      at.stdout!.on('data', (d: Buffer) => (echoed += d.toString()));
      await new Promise((r) => setTimeout(r, 300));
      at.stdin!.write('ping\n');
      await expect.poll(() => echoed, { timeout: 10_000 }).toContain('ping');
      at.close();
      const sock = await manager.portForward(ns, 'streams', port);
      sock.write('GET /passwd HTTP/1.0\r\n\r\n');
      expect(await collect(sock)).toMatch(/^HTTP\/1\.[01] 200/);
    });

    it('stops and removes a pod that leaves the store', async () => {
      apply(pod('gone', { terminationGracePeriodSeconds: 1, containers: [c('main', 'exec sleep 3600')] }));
      await expect.poll(() => cs('gone')?.state.running, { timeout: 15_000 }).toBeTruthy();
      const uid = manager.record(ns, 'gone')!.uid;
      del(`v1/Pod/${ns}/gone`);
      await expect.poll(() => existsSync(join(dir, 'pods', uid)), { timeout: 10_000 }).toBe(false);
      expect(manager.status(ns, 'gone')).toBeUndefined();
    });
  });
}
