/**
 * edged-lite: runs the pods bound to this node from the edge store, through
 * a {@link PodRuntime}, and reports their status upstream (`pod-status`
 * reports in the durable outbox, coalesced per pod). Everything it needs is
 * local — the pods, their ConfigMaps and Secrets from the store, and its own
 * records (meta `pods/<uid>`) — so it works the same with no cloud, after an
 * agent restart (adopting what still runs) and after a reboot (starting the
 * last desired state).
 *
 * One worker per pod: `#sync(uid)` is level-triggered and serialised per pod
 * (a change while it runs makes it run again); it reads the desired pod and
 * the record, asks `planPod` what to do, does it, and reports the status
 * `podStatus` computes when it changed. It runs on store changes, container
 * exits, probe result changes and at the time the plan asks for (backoff).
 *
 * Graceful deletion (a pod with deletionTimestamp): containers get SIGTERM,
 * SIGKILL after the grace period, then `{uid, deleted: true}` goes upstream
 * and the cloud deletes the API object with grace 0, as the kubelet does;
 * the store's delete then removes the pod's directories and record.
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import type { EdgeStore } from '../store/store.ts';
import type { ChangeEvent, KubeObject } from '../store/object-store.ts';
import type { Logger } from '../../lib/log.ts';
import { CrashLoopBackoff, kubeletBackoff, type CrashLoopBackoffOptions } from './backoff.ts';
import { containerEnv, expandCommand, type Lookups, type PodRuntimeFacts } from './env.ts';
import { PodError } from './errors.ts';
import { readLogs, type ReadLogsOptions } from './logs.ts';
import { planPod, type ProbeResult } from './plan.ts';
import { ContainerProbes } from './probes.ts';
import { containerHash, newRecord, recordKey, type ContainerRecord, type PodRecord } from './record.ts';
import type { ContainerHandle, ContainerSpec, ContainerUsage, ExecSession, ObservedState, PodRuntime, StreamOptions } from './runtime.ts';
import { podStatus, statusDiffers } from './status.ts';
import { apiTime, podStoreKey, type ConfigMap, type Container, type Pod, type PodCondition, type PodStatus, type Secret } from './types.ts';
import { containerMounts, prepareVolumes } from './volumes.ts';
import type { Duplex } from 'node:stream';

export interface PodManagerOptions {
  nodeName: string;
  store: EdgeStore;
  runtime: PodRuntime;
  /** Pod directories go to `<dataDir>/pods/<uid>`, logs to `<dataDir>/logs/<ns>_<name>_<uid>/<container>/<n>.log`. */
  dataDir: string;
  log: Logger;
  /** Host IP and allocatable (fieldRefs, resourceFieldRefs, status.hostIP/podIP). */
  facts: PodRuntimeFacts;
  /** Called after a report was put in the outbox (EdgeHub.notifyOutbox). */
  notifyOutbox?: () => void;
  /** Crash-loop backoff (default the kubelet's 10 s → 5 min). */
  backoff?: CrashLoopBackoffOptions;
  /** Retry interval for a container that could not be configured or started (default: backoff.initialMs). */
  retryMs?: number;
  /**
   * Every pod is synced at least this often (default 10 s, the kubelet's sync
   * frequency): re-reports a status the API server does not show (a refused
   * or overtaken report) and catches anything a missed event left behind.
   */
  resyncMs?: number;
  now?: () => number;
}

interface Worker {
  running: boolean;
  dirty: boolean;
  timer?: NodeJS.Timeout;
  timerAt?: number;
}

/** Sandbox label naming the node whose agent created it (garbage collection stays on its own node). */
const nodeLabel = 'outpost.io/node';

const isPod = (o: KubeObject): boolean => o.apiVersion === 'v1' && o.kind === 'Pod';

/** One pod's running containers and their usage (PodManager.stats). */
export interface PodUsage {
  uid: string;
  namespace: string;
  name: string;
  /** ms since the epoch. */
  startTime: number;
  containers: { name: string; handleId: string; startedAt: number; usage?: ContainerUsage }[];
}

export class PodManager {
  readonly #o: PodManagerOptions;
  readonly #log: Logger;
  readonly #runtime: PodRuntime;
  readonly #now: () => number;
  readonly #backoff: CrashLoopBackoff;
  readonly #retryMs: number;
  /** uid → what the pod last asked for (see #onStoreChange). */
  readonly #desired = new Map<string, string>();
  /** Desired pods (bound to this node, in the store), by uid. */
  readonly #pods = new Map<string, Pod>();
  readonly #uidOfKey = new Map<string, string>();
  /** The last version seen of every pod we may still run (grace period after a store delete). */
  readonly #lastSeen = new Map<string, Pod>();
  readonly #records = new Map<string, PodRecord>();
  readonly #handles = new Map<string, { uid: string; name: string }>();
  readonly #probes = new Map<string, ContainerProbes>();
  readonly #waiting = new Map<string, Record<string, { reason: string; message?: string }>>();
  readonly #reported = new Map<string, { json: string; at: number }>();
  readonly #statuses = new Map<string, PodStatus>();
  readonly #workers = new Map<string, Worker>();
  readonly #volumeCache = new Map<string, Map<string, string>>();
  readonly #unsubscribe: (() => void)[] = [];
  readonly #pendingRecords = new Map<string, PodRecord | null>();
  readonly #pendingReports: ['pod-status' | 'event', string, unknown][] = [];
  #flushScheduled = false;
  #scheme = '';
  #stopped = true;
  #initial: Promise<void> | undefined;

  constructor(opts: PodManagerOptions) {
    this.#o = opts;
    this.#log = opts.log.child({ component: 'pods' });
    this.#runtime = opts.runtime;
    this.#now = opts.now ?? Date.now;
    this.#backoff = new CrashLoopBackoff({ ...(opts.backoff ?? kubeletBackoff), now: this.#now });
    this.#retryMs = opts.retryMs ?? (opts.backoff ?? kubeletBackoff).initialMs;
  }

  /**
   * Loads the records, adopts what still runs, and starts syncing every pod.
   * Resolves once every known pod had its first sync (so the node runs its
   * last desired state); store changes are followed from then on.
   */
  async start(): Promise<void> {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#scheme = this.#runtime.type === 'cri' ? 'containerd' : this.#runtime.type;
    const meta = this.#o.store.objects.meta;
    for (const [, v] of meta.entries('pods/')) {
      try {
        const r = JSON.parse(v) as PodRecord;
        this.#records.set(r.uid, r);
      } catch (err) {
        this.#log.warn('Ignored an unreadable pod record', { err });
      }
    }
    for (const o of this.#o.store.objects.list({ apiVersion: 'v1', kind: 'Pod' })) this.#index(o as unknown as Pod);
    this.#unsubscribe.push(this.#o.store.objects.onChange((e) => this.#onStoreChange(e)));
    this.#unsubscribe.push(this.#runtime.onExit((h) => this.#onExit(h)));
    // adopt first, so the first sync sees what is still running
    await Promise.all([...this.#records.values()].map((r) => this.#adopt(r)));
    await this.#collectOrphans();
    const uids = new Set([...this.#pods.keys(), ...this.#records.keys()]);
    this.#log.info('Started pod manager', { runtime: this.#runtime.type, pods: this.#pods.size, records: this.#records.size });
    this.#initial = Promise.all([...uids].map((u) => this.#runSync(u))).then(() => undefined);
    await this.#initial;
  }

  /** Stops syncing and probing; containers keep running (the next agent adopts them). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const u of this.#unsubscribe.splice(0)) u();
    for (const w of this.#workers.values()) if (w.timer) clearTimeout(w.timer);
    for (const p of this.#probes.values()) p.stop();
    this.#probes.clear();
    // let in-flight syncs finish their current step, then write what they changed
    for (let i = 0; i < 100 && [...this.#workers.values()].some((w) => w.running); i++) await new Promise((r) => setTimeout(r, 20));
    this.#flush();
  }

  /** The last status computed for a pod (what was, or will be, reported). */
  status(namespace: string, name: string): PodStatus | undefined {
    const uid = this.#uidOfKey.get(podStoreKey(namespace, name));
    return uid ? this.#statuses.get(uid) : undefined;
  }

  /** Pods this manager runs or still cleans up. */
  get podCount(): number {
    return this.#records.size;
  }

  /** The record of a pod (tests, `outpost doctor`). */
  record(namespace: string, name: string): PodRecord | undefined {
    const uid = this.#uidOfKey.get(podStoreKey(namespace, name));
    return uid ? this.#records.get(uid) : undefined;
  }

  /**
   * For the kubelet stats API (`kubectl top`): every pod with running containers, each
   * container with its start time and its usage as the runtime measures it (absent when the
   * runtime has none for it, or has no stats at all). One runtime call for all containers;
   * throws what the runtime's containerStats throws (PodError POD_RUNTIME_UNAVAILABLE).
   */
  async stats(): Promise<PodUsage[]> {
    const pods: PodUsage[] = [];
    const handles: ContainerHandle[] = [];
    for (const rec of this.#records.values()) {
      const containers = Object.values(rec.containers).filter((c) => c.state === 'running' && c.handle);
      if (containers.length === 0) continue;
      handles.push(...containers.map((c) => c.handle!));
      pods.push({
        uid: rec.uid, namespace: rec.namespace, name: rec.name, startTime: rec.startTime ?? Math.min(...containers.map((c) => c.startedAt ?? this.#now())),
        containers: containers.map((c) => ({ name: c.name, startedAt: c.startedAt ?? this.#now(), handleId: c.handle!.id })),
      });
    }
    const usage = this.#runtime.containerStats && handles.length > 0 ? await this.#runtime.containerStats(handles) : new Map<string, ContainerUsage>();
    return pods.map((p) => ({
      ...p,
      containers: p.containers.map((c) => ({ ...c, ...(usage.has(c.handleId) ? { usage: usage.get(c.handleId)! } : {}) })),
    }));
  }

  // ---- for kubectl logs / exec / attach / port-forward (the tunnel) ----

  #container(namespace: string, name: string, container?: string): { rec: PodRecord; pod: Pod; c: ContainerRecord } {
    const uid = this.#uidOfKey.get(podStoreKey(namespace, name));
    const rec = uid ? this.#records.get(uid) : undefined;
    const pod = uid ? (this.#pods.get(uid) ?? this.#lastSeen.get(uid)) : undefined;
    if (!rec || !pod) throw new PodError('POD_CONTAINER_NOT_FOUND', `pod ${namespace}/${name} does not run on this node`);
    const cname = container ?? pod.spec.containers[0]?.name ?? '';
    const c = rec.containers[cname];
    if (!c) throw new PodError('POD_CONTAINER_NOT_FOUND', `container ${cname} is not valid for pod ${name}`);
    return { rec, pod, c };
  }

  /** Log path of a container instance (`previous`: the one before the current). */
  logPath(namespace: string, name: string, container?: string, previous = false): string {
    const { rec, pod, c } = this.#container(namespace, name, container);
    const n = c.restartCount - (previous ? 1 : 0);
    if (n < 0 || (previous && !c.last)) throw new PodError('POD_CONTAINER_NOT_FOUND', `previous terminated container "${c.name}" in pod "${name}" not found`);
    return join(this.#logDir(pod, rec.uid), c.name, `${n}.log`);
  }

  /** `kubectl logs`: the container's output with the kubelet's options. */
  logs(namespace: string, name: string, container: string | undefined, opts: ReadLogsOptions & { previous?: boolean } = {}): AsyncGenerator<Buffer> {
    const path = this.logPath(namespace, name, container, opts.previous);
    const { c } = this.#container(namespace, name, container);
    const attempt = c.restartCount;
    return readLogs(path, { ...opts, done: () => opts.previous === true || c.state !== 'running' || c.restartCount !== attempt || this.#stopped });
  }

  /** `kubectl exec`. */
  async exec(namespace: string, name: string, container: string | undefined, cmd: string[], opts: StreamOptions): Promise<ExecSession> {
    const { c } = this.#container(namespace, name, container);
    if (c.state !== 'running' || !c.handle) throw new PodError('POD_CONTAINER_NOT_FOUND', `container ${c.name} is not running`);
    return await this.#runtime.exec(c.handle, cmd, opts);
  }

  /** `kubectl attach`. */
  async attach(namespace: string, name: string, container: string | undefined, opts: StreamOptions): Promise<ExecSession> {
    const { c } = this.#container(namespace, name, container);
    if (c.state !== 'running' || !c.handle) throw new PodError('POD_CONTAINER_NOT_FOUND', `container ${c.name} is not running`);
    return await this.#runtime.attach(c.handle, opts);
  }

  /**
   * The runtime's streaming URL for this exec/attach, or undefined when the runtime serves the
   * session itself (see PodRuntime.streamUrl).
   */
  async streamUrl(kind: 'exec' | 'attach', namespace: string, name: string, container: string | undefined, cmd: string[], opts: StreamOptions): Promise<string | undefined> {
    if (!this.#runtime.streamUrl) return undefined;
    const { c } = this.#container(namespace, name, container);
    if (c.state !== 'running' || !c.handle) throw new PodError('POD_CONTAINER_NOT_FOUND', `container ${c.name} is not running`);
    return await this.#runtime.streamUrl(kind, c.handle, cmd, opts);
  }

  /** `kubectl port-forward`. */
  async portForward(namespace: string, name: string, port: number): Promise<Duplex> {
    const { rec } = this.#container(namespace, name);
    if (!rec.sandbox) throw new PodError('POD_CONTAINER_NOT_FOUND', `pod ${namespace}/${name} has no sandbox`);
    return await this.#runtime.portForward(rec.sandbox, port);
  }

  // ---- store and runtime events ----

  #index(pod: Pod): string | undefined {
    const uid = pod.metadata.uid;
    if (!uid) return undefined;
    const key = podStoreKey(pod.metadata.namespace ?? '', pod.metadata.name);
    const prevUid = this.#uidOfKey.get(key);
    if (prevUid && prevUid !== uid) {
      // recreated under the same name: the old one goes
      this.#pods.delete(prevUid);
      this.#enqueue(prevUid);
    }
    if (pod.spec.nodeName && pod.spec.nodeName !== this.#o.nodeName) {
      this.#pods.delete(uid);
      return uid;
    }
    this.#uidOfKey.set(key, uid);
    this.#pods.set(uid, pod);
    this.#lastSeen.set(uid, pod);
    return uid;
  }

  #onStoreChange(e: ChangeEvent): void {
    if (this.#stopped) return;
    const [ver, kind, ns, name] = e.key.split('/');
    if (ver !== 'v1') return;
    if (kind === 'Pod') {
      if (e.type === 'upsert') {
        if (!isPod(e.obj)) return;
        const known = this.#uidOfKey.has(e.key);
        const pod = e.obj as unknown as Pod;
        const uid = this.#index(pod);
        if (!known) this.#log.debug('Saw new Pod', { key: e.key, uid });
        if (!uid) return;
        // Our own status reports come back as new versions of the pod: only a change to what the
        // pod asks for (spec, deletion, labels/annotations for the downward API) needs a sync.
        // Otherwise a container that fails to start would be retried on every status round trip
        // instead of after its backoff.
        const desired = JSON.stringify([pod.spec, pod.metadata.deletionTimestamp, pod.metadata.deletionGracePeriodSeconds, pod.metadata.labels, pod.metadata.annotations]);
        if (known && this.#desired.get(uid) === desired) return;
        this.#desired.set(uid, desired);
        this.#enqueue(uid);
      } else {
        const uid = this.#uidOfKey.get(e.key);
        if (!uid) return;
        this.#desired.delete(uid);
        this.#uidOfKey.delete(e.key);
        this.#pods.delete(uid);
        this.#enqueue(uid);
      }
      return;
    }
    if (kind === 'ConfigMap' || kind === 'Secret') {
      // volumes and env of the pods that use it (kubelet: configMap/secret volumes are refreshed)
      for (const [uid, pod] of this.#pods) {
        if (pod.metadata.namespace === ns && references(pod, kind, name ?? '')) this.#enqueue(uid);
      }
    }
  }

  #onExit(h: ContainerHandle): void {
    const who = this.#handles.get(h.id);
    if (!who || this.#stopped) return;
    void this.#refresh(who.uid, who.name).then(() => this.#enqueue(who.uid));
  }

  /** Reads a container's state from the runtime into its record. */
  async #refresh(uid: string, name: string): Promise<void> {
    const rec = this.#records.get(uid);
    const x = rec?.containers[name];
    if (!rec || !x?.handle || x.state !== 'running') return;
    const s = await this.#runtime.inspect(x.handle);
    if (s.state === 'running' || x.state !== 'running') return;
    this.#markExited(rec, x, s);
  }

  #markExited(rec: PodRecord, x: ContainerRecord, s: Exclude<ObservedState, { state: 'running' }>): void {
    const now = this.#now();
    x.state = 'exited';
    x.exit = s.state === 'exited'
      ? { exitCode: s.exitCode, ...(s.signal ? { signal: s.signal } : {}), reason: s.reason, ...(s.message ? { message: s.message } : {}), startedAt: s.startedAt, finishedAt: s.finishedAt, containerID: x.handle!.id }
      : { exitCode: 137, reason: 'ContainerStatusUnknown', message: s.message, startedAt: x.startedAt ?? now, finishedAt: now, containerID: x.handle!.id };
    this.#probes.get(`${rec.uid}/${x.name}`)?.stop();
    this.#probes.delete(`${rec.uid}/${x.name}`);
    this.#save(rec);
  }

  // ---- the per-pod worker ----

  #enqueue(uid: string, delayMs = 0): void {
    if (this.#stopped) return;
    let w = this.#workers.get(uid);
    if (!w) this.#workers.set(uid, (w = { running: false, dirty: false }));
    if (delayMs > 0) {
      const at = this.#now() + delayMs;
      if (w.timer && w.timerAt! <= at) return;
      if (w.timer) clearTimeout(w.timer);
      w.timerAt = at;
      w.timer = setTimeout(() => {
        w.timer = undefined;
        this.#enqueue(uid);
      }, delayMs);
      w.timer.unref();
      return;
    }
    if (w.running) {
      w.dirty = true;
      return;
    }
    void this.#runSync(uid);
  }

  async #runSync(uid: string): Promise<void> {
    let w = this.#workers.get(uid);
    if (!w) this.#workers.set(uid, (w = { running: false, dirty: false }));
    if (w.running) {
      w.dirty = true;
      return;
    }
    w.running = true;
    try {
      do {
        w.dirty = false;
        try {
          await this.#sync(uid);
        } catch (err) {
          this.#log.error('Failed to sync pod', { uid, err });
          this.#enqueue(uid, this.#retryMs);
        }
      } while (w.dirty && !this.#stopped);
    } finally {
      w.running = false;
      if (!this.#records.has(uid) && !this.#pods.has(uid) && !w.timer) this.#workers.delete(uid);
    }
  }

  #lookups(): Lookups {
    const objects = this.#o.store.objects;
    return {
      configMap: (ns, name) => objects.get(`v1/ConfigMap/${ns}/${name}`) as unknown as ConfigMap | undefined,
      secret: (ns, name) => objects.get(`v1/Secret/${ns}/${name}`) as unknown as Secret | undefined,
    };
  }

  #podDir(uid: string): string {
    return join(this.#o.dataDir, 'pods', uid);
  }

  #logDir(pod: Pod, uid: string): string {
    return join(this.#o.dataDir, 'logs', `${pod.metadata.namespace ?? 'default'}_${pod.metadata.name}_${uid}`);
  }

  /**
   * Records and reports are written in one transaction per event-loop turn
   * (one fsync for everything that changed, instead of one per write: with
   * 100 pods starting at once, per-write fsyncs blocked the loop for seconds).
   * A crash loses at most the writes of the current turn: a process started
   * in it is then not adopted, and its pod is started again.
   */
  #save(rec: PodRecord): void {
    if (!this.#records.has(rec.uid)) return;
    this.#pendingRecords.set(rec.uid, rec);
    this.#scheduleFlush();
  }

  #report(kind: 'pod-status' | 'event', key: string, payload: unknown): void {
    this.#pendingReports.push([kind, key, payload]);
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /** Writes the pending records and reports (see {@link #save}). */
  #flush(): void {
    this.#flushScheduled = false;
    const records = [...this.#pendingRecords];
    const reports = this.#pendingReports.splice(0);
    this.#pendingRecords.clear();
    if (records.length === 0 && reports.length === 0) return;
    try {
      this.#o.store.db.transaction(() => {
        for (const [uid, rec] of records) {
          if (rec) this.#o.store.objects.meta.set(recordKey(uid), JSON.stringify(rec));
          else this.#o.store.objects.meta.delete(recordKey(uid));
        }
        for (const [kind, key, payload] of reports) this.#o.store.outbox.put(kind, key, payload);
      });
    } catch (err) {
      this.#log.error('Failed to write pod records and reports', { err, records: records.length, reports: reports.length });
    }
    if (reports.length) this.#o.notifyOutbox?.();
  }

  #forget(uid: string): void {
    this.#records.delete(uid);
    this.#pendingRecords.set(uid, null);
    this.#scheduleFlush();
    this.#reported.delete(uid);
    this.#statuses.delete(uid);
    this.#waiting.delete(uid);
    this.#volumeCache.delete(uid);
    this.#lastSeen.delete(uid);
    this.#backoff.resetPrefix(`${uid}/`);
  }

  async #sync(uid: string): Promise<void> {
    if (this.#stopped) return;
    const pod = this.#pods.get(uid);
    let rec = this.#records.get(uid);
    if (!pod) {
      if (rec) await this.#cleanup(rec, this.#lastSeen.get(uid));
      return;
    }
    const log = this.#log.child({ namespace: pod.metadata.namespace, pod: pod.metadata.name });
    if (!rec) {
      rec = newRecord(uid, pod.metadata.namespace ?? 'default', pod.metadata.name);
      this.#records.set(uid, rec);
      this.#save(rec);
    }
    if (pod.metadata.deletionTimestamp) {
      if (rec.deletionReported) return;
      await this.#terminate(rec, pod, this.#deletionGraceMs(pod), log);
      await this.#runtime.removeSandbox(rec.sandbox ?? { id: uid }).catch((err: unknown) => log.warn('Failed to remove sandbox', { err }));
      rec.deletionReported = true;
      this.#save(rec);
      this.#report('pod-status', podStoreKey(rec.namespace, rec.name), { uid, deleted: true });
      log.info('Finished graceful deletion of Pod');
      return;
    }
    const waiting: Record<string, { reason: string; message?: string }> = {};
    this.#waiting.set(uid, waiting);
    let requeueAt: number | undefined;
    const retry = () => {
      const t = this.#now() + this.#retryMs;
      requeueAt = requeueAt === undefined ? t : Math.min(requeueAt, t);
    };

    if (!rec.terminalPhase) {
      // sandbox
      let sandboxReady = rec.sandbox ? await this.#runtime.sandboxReady(rec.sandbox) : false;
      if (!sandboxReady) {
        if (rec.sandbox) {
          log.warn('Pod sandbox is gone; restarting the pod\'s containers in a new one');
          await this.#killAll(rec, pod, 0, log);
          rec.sandboxAttempt++;
          for (const c of pod.spec.initContainers ?? []) if (rec.containers[c.name]) rec.containers[c.name]!.state = 'none';
        }
        try {
          rec.sandbox = await this.#runtime.runSandbox({
            uid, namespace: rec.namespace, name: rec.name, attempt: rec.sandboxAttempt,
            labels: { ...pod.metadata.labels, [nodeLabel]: this.#o.nodeName }, annotations: pod.metadata.annotations ?? {},
            podDir: this.#podDir(uid), logDir: this.#logDir(pod, uid),
          });
          rec.startTime ??= this.#now();
          sandboxReady = true;
          this.#save(rec);
        } catch (err) {
          log.warn('Failed to create pod sandbox', { err });
          for (const c of pod.spec.containers) waiting[c.name] = { reason: 'ContainerCreating', message: `failed to create the pod sandbox: ${(err as Error).message}` };
          retry();
        }
      }
      // volumes
      let volumes: Map<string, string> | undefined;
      if (sandboxReady) {
        try {
          volumes = prepareVolumes(pod, this.#podDir(uid), this.#lookups(), this.#o.facts);
          this.#volumeCache.set(uid, volumes);
        } catch (err) {
          const e = err as PodError;
          for (const c of [...(pod.spec.initContainers ?? []), ...pod.spec.containers]) {
            if (rec.containers[c.name]?.state !== 'running') waiting[c.name] = { reason: e.reason ?? 'CreateContainerConfigError', message: e.message };
          }
          log.info('Waiting for pod volumes', { message: e.message });
          retry();
        }
      }
      // plan and act
      const plan = planPod({
        pod, rec, now: this.#now(),
        liveness: (n) => this.#liveness(uid, n),
        backoff: (n, finishedAt) => this.#backoffPeek(uid, n, finishedAt),
      });
      for (const k of plan.kill) {
        const x = rec.containers[k.name];
        if (!x?.handle || x.state !== 'running') continue;
        log.info('Killing container', { container: k.name, reason: k.reason, message: k.message });
        this.#event(pod, 'Killing', k.message, 'Normal');
        if (k.reason === 'Unhealthy') this.#event(pod, 'Unhealthy', `${k.name}: liveness probe failed`, 'Warning');
        await this.#runtime.stopContainer(x.handle, this.#graceMs(pod));
        await this.#refresh(uid, k.name);
      }
      if (plan.terminal) {
        if (!rec.terminalPhase) {
          await this.#killAll(rec, pod, this.#graceMs(pod), log);
          rec.terminalPhase = plan.terminal.phase;
          if (plan.terminal.reason) rec.terminalReason = plan.terminal.reason;
          if (plan.terminal.message) rec.terminalMessage = plan.terminal.message;
          this.#save(rec);
          if (rec.sandbox) await this.#runtime.stopSandbox(rec.sandbox).catch((err: unknown) => log.warn('Failed to stop sandbox', { err }));
          log.info('Pod finished', { phase: rec.terminalPhase, reason: rec.terminalReason });
        }
      } else {
        for (const [name, b] of Object.entries(plan.backoff)) {
          waiting[name] = { reason: 'CrashLoopBackOff', message: `back-off ${Math.round(b.backoffMs / 1000)}s restarting failed container=${name} pod=${rec.name}_${rec.namespace}(${uid})` };
        }
        if (plan.requeueAt !== undefined) requeueAt = requeueAt === undefined ? plan.requeueAt : Math.min(requeueAt, plan.requeueAt);
        if (volumes && rec.sandbox) {
          for (const name of plan.start) {
            const c = [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((x) => x.name === name)!;
            const init = (pod.spec.initContainers ?? []).some((x) => x.name === name);
            const err = await this.#start(rec, pod, c, init, volumes, log);
            if (err) {
              waiting[name] = { reason: err.reason, message: err.message };
              retry();
              if (init) break;
            }
          }
        }
      }
    }
    // report
    const status = podStatus({
      pod, rec, now: this.#now(), runtimeScheme: this.#scheme, hostIP: this.#o.facts.hostIP, waiting,
      ready: (n) => this.#probes.get(`${uid}/${n}`)?.ready() ?? true,
      started: (n) => this.#probes.get(`${uid}/${n}`)?.started() ?? true,
      sandboxReady: !!rec.sandbox && !rec.terminalPhase,
      ...(this.#statuses.get(uid)?.conditions ? { previous: this.#statuses.get(uid)!.conditions as PodCondition[] } : {}),
    });
    this.#statuses.set(uid, status);
    const json = JSON.stringify(status);
    const last = this.#reported.get(uid);
    const now = this.#now();
    const resyncMs = this.#o.resyncMs ?? 10_000;
    // re-report when the API server still shows something else a while after our last report
    const stale = last !== undefined && now - last.at >= resyncMs && statusDiffers(pod.status, status);
    if (last?.json !== json || stale) {
      this.#reported.set(uid, { json, at: now });
      this.#report('pod-status', podStoreKey(rec.namespace, rec.name), { uid, status });
    }
    const next = now + resyncMs;
    this.#enqueue(uid, Math.max(1, Math.min(requeueAt ?? next, next) - now));
  }

  #liveness(uid: string, name: string): ProbeResult {
    const p = this.#probes.get(`${uid}/${name}`);
    if (!p) return 'unknown';
    if (p.result('startup') === 'failure') return 'failure';
    return p.result('liveness');
  }

  /** Backoff check that advances the backoff only when the restart happens (the plan is pure; this is its input). */
  #backoffPeek(uid: string, name: string, finishedAt: number): { until: number; backoffMs: number } | undefined {
    return this.#backoff.check(`${uid}/${name}`, finishedAt);
  }

  #graceMs(pod: Pod): number {
    return (pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
  }

  #deletionGraceMs(pod: Pod): number {
    return (pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30) * 1000;
  }

  /** Builds the runtime spec and starts one container; returns the error to show when it could not. */
  async #start(rec: PodRecord, pod: Pod, c: Container, init: boolean, volumes: Map<string, string>, log: Logger): Promise<PodError | undefined> {
    const x: ContainerRecord = rec.containers[c.name] ?? { name: c.name, init, restartCount: 0, state: 'none' };
    const ranBefore = x.handle !== undefined && x.state === 'exited';
    const attempt = ranBefore ? x.restartCount + 1 : x.restartCount;
    let spec: ContainerSpec;
    try {
      spec = this.#containerSpec(rec, pod, c, attempt, volumes);
    } catch (err) {
      if (!(err instanceof PodError)) throw err;
      log.info('Cannot configure container', { container: c.name, message: err.message });
      this.#event(pod, 'Failed', `Error: ${err.message}`, 'Warning');
      return err;
    }
    let started: { handle: ContainerHandle; startedAt: number };
    try {
      started = await this.#runtime.startContainer(rec.sandbox!, spec);
    } catch (err) {
      const e = err instanceof PodError ? err : new PodError('POD_START_FAILED', (err as Error).message, { cause: err });
      log.warn('Failed to start container', { container: c.name, code: e.code, message: e.message });
      this.#event(pod, 'Failed', `Error: ${e.message}`, 'Warning');
      return e;
    }
    const old = x.handle;
    if (ranBefore) {
      x.last = x.exit;
      x.restartCount = attempt;
    }
    x.handle = started.handle;
    x.state = 'running';
    x.startedAt = started.startedAt;
    delete x.exit;
    x.specHash = containerHash(c);
    if (started.handle.data?.imageId) x.imageID = String(started.handle.data.imageId);
    rec.containers[c.name] = x;
    this.#handles.set(started.handle.id, { uid: rec.uid, name: c.name });
    this.#save(rec);
    if (old) {
      this.#handles.delete(old.id);
      void this.#runtime.removeContainer(old).catch(() => undefined);
      // keep the current and the previous log (kubectl logs --previous)
      if (attempt >= 2) rmSync(join(this.#logDir(pod, rec.uid), c.name, `${attempt - 2}.log`), { force: true });
    }
    this.#startProbes(rec, c, started.handle);
    // an instance that exits at once may have done so before the handle was known
    const s = await this.#runtime.inspect(started.handle);
    if (s.state !== 'running' && x.state === 'running') this.#markExited(rec, x, s);
    log.debug('Started container', { container: c.name, attempt, id: started.handle.id });
    return undefined;
  }

  #containerSpec(rec: PodRecord, pod: Pod, c: Container, attempt: number, volumes: Map<string, string>): ContainerSpec {
    const env = containerEnv(pod, c, this.#lookups(), this.#o.facts);
    const { command, args } = expandCommand(c, env);
    const sc = { ...pod.spec.securityContext, ...c.securityContext };
    const limits = c.resources?.limits ?? {};
    const mem = limits.memory !== undefined ? parseQuantityBytes(limits.memory) : undefined;
    const cpu = limits.cpu !== undefined ? Math.round(parseQuantityBytes(limits.cpu) * 1000) : undefined;
    return {
      name: c.name, attempt, image: c.image ?? '', imagePullPolicy: c.imagePullPolicy ?? (/:latest$|^[^:]*$/.test(c.image ?? '') ? 'Always' : 'IfNotPresent'),
      command, args, env, ...(c.workingDir ? { workingDir: c.workingDir } : {}),
      mounts: containerMounts(c, volumes),
      logPath: join(this.#logDir(pod, rec.uid), c.name, `${attempt}.log`),
      stdin: !!c.stdin, stdinOnce: !!c.stdinOnce, tty: !!c.tty,
      ...(sc.runAsUser !== undefined ? { runAsUser: sc.runAsUser } : {}),
      ...(sc.runAsGroup !== undefined ? { runAsGroup: sc.runAsGroup } : {}),
      ...(mem !== undefined && Number.isFinite(mem) ? { memoryLimitBytes: Math.round(mem) } : {}),
      ...(cpu !== undefined && Number.isFinite(cpu) ? { cpuMillis: cpu } : {}),
      labels: { 'io.kubernetes.pod.name': rec.name, 'io.kubernetes.pod.namespace': rec.namespace, 'io.kubernetes.pod.uid': rec.uid, 'io.kubernetes.container.name': c.name },
      annotations: {},
    };
  }

  #startProbes(rec: PodRecord, c: Container, handle: ContainerHandle): void {
    const key = `${rec.uid}/${c.name}`;
    this.#probes.get(key)?.stop();
    if (!c.livenessProbe && !c.readinessProbe && !c.startupProbe) {
      this.#probes.delete(key);
      return;
    }
    const p = new ContainerProbes({ container: c, handle, runtime: this.#runtime, log: this.#log.child({ namespace: rec.namespace, pod: rec.name }), onChange: () => this.#enqueue(rec.uid) });
    this.#probes.set(key, p);
    p.start();
  }

  /** Stops every running container of the pod with `graceMs`, in parallel, and records how they ended. */
  async #killAll(rec: PodRecord, pod: Pod | undefined, graceMs: number, log: Logger): Promise<void> {
    const running = Object.values(rec.containers).filter((x) => x.state === 'running' && x.handle);
    if (running.length && pod) this.#event(pod, 'Killing', `Stopping containers ${running.map((x) => x.name).join(', ')}`, 'Normal');
    await Promise.all(running.map(async (x) => {
      try {
        await this.#runtime.stopContainer(x.handle!, graceMs);
      } catch (err) {
        log.warn('Failed to stop container', { container: x.name, err });
      }
      await this.#refresh(rec.uid, x.name);
    }));
  }

  async #terminate(rec: PodRecord, pod: Pod | undefined, graceMs: number, log: Logger): Promise<void> {
    for (const name of Object.keys(rec.containers)) {
      this.#probes.get(`${rec.uid}/${name}`)?.stop();
      this.#probes.delete(`${rec.uid}/${name}`);
    }
    await this.#killAll(rec, pod, graceMs, log);
    if (rec.sandbox) await this.#runtime.stopSandbox(rec.sandbox).catch((err: unknown) => log.warn('Failed to stop sandbox', { err }));
  }

  /** The pod left the store: stop what runs, remove its sandbox, directories and record. */
  async #cleanup(rec: PodRecord, pod: Pod | undefined): Promise<void> {
    const log = this.#log.child({ namespace: rec.namespace, pod: rec.name });
    const grace = pod ? (rec.deletionReported ? 0 : this.#deletionGraceMs(pod)) : 0;
    await this.#terminate(rec, pod, grace, log);
    for (const x of Object.values(rec.containers)) {
      if (x.handle) {
        this.#handles.delete(x.handle.id);
        await this.#runtime.removeContainer(x.handle).catch(() => undefined);
      }
    }
    if (rec.sandbox) await this.#runtime.removeSandbox(rec.sandbox).catch((err: unknown) => log.warn('Failed to remove sandbox', { err }));
    rmSync(this.#podDir(rec.uid), { recursive: true, force: true });
    rmSync(join(this.#o.dataDir, 'logs', `${rec.namespace}_${rec.name}_${rec.uid}`), { recursive: true, force: true });
    this.#forget(rec.uid);
    log.info('Removed Pod from the node');
  }

  /** After an agent restart: takes over the containers the record says are running. */
  async #adopt(rec: PodRecord): Promise<void> {
    const pod = this.#pods.get(rec.uid);
    for (const x of Object.values(rec.containers)) {
      if (!x.handle) continue;
      this.#handles.set(x.handle.id, { uid: rec.uid, name: x.name });
      if (x.state !== 'running') continue;
      const c = pod ? [...(pod.spec.initContainers ?? []), ...pod.spec.containers].find((y) => y.name === x.name) : undefined;
      let spec: ContainerSpec | undefined;
      try {
        spec = pod && c ? this.#containerSpec(rec, pod, c, x.restartCount, this.#volumeCache.get(rec.uid) ?? volumePathsGuess(pod, this.#podDir(rec.uid))) : undefined;
      } catch {
        spec = undefined;
      }
      spec ??= {
        name: x.name, attempt: x.restartCount, image: '', imagePullPolicy: 'Never', command: [], args: [], env: [], mounts: [],
        logPath: join(this.#o.dataDir, 'logs', `${rec.namespace}_${rec.name}_${rec.uid}`, x.name, `${x.restartCount}.log`),
        stdin: false, stdinOnce: false, tty: false, labels: {}, annotations: {},
      };
      const s = await this.#runtime.adopt(rec.sandbox ?? { id: rec.uid }, x.handle, spec).catch((err: unknown): ObservedState => ({ state: 'unknown', message: (err as Error).message }));
      if (s.state === 'running') {
        if (c) this.#startProbes(rec, c, x.handle);
        continue;
      }
      this.#markExited(rec, x, s);
    }
  }

  /** Removes sandboxes the runtime holds that no record names (a record lost with a crash mid-write). */
  async #collectOrphans(): Promise<void> {
    if (!this.#runtime.listSandboxes) return;
    try {
      const known = new Set([...this.#records.values()].map((r) => r.sandbox?.id).filter(Boolean));
      for (const s of await this.#runtime.listSandboxes()) {
        // only this node's: another agent may share the runtime (tests do)
        if (known.has(s.id) || s.labels[nodeLabel] !== this.#o.nodeName) continue;
        this.#log.info('Removing a sandbox no pod record names', { sandbox: s.id, uid: s.uid });
        await this.#runtime.removeSandbox({ id: s.id }).catch((err: unknown) => this.#log.warn('Failed to remove orphaned sandbox', { sandbox: s.id, err }));
      }
    } catch (err) {
      this.#log.warn('Failed to list sandboxes for garbage collection', { err });
    }
  }

  /** Puts a core/v1 Event about the pod upstream (dropped first when the outbox is full). */
  #event(pod: Pod, reason: string, message: string, type: 'Normal' | 'Warning'): void {
    const now = apiTime(this.#now());
    const ns = pod.metadata.namespace ?? 'default';
    this.#report('event', podStoreKey(ns, pod.metadata.name), {
      metadata: { name: `${pod.metadata.name}.${Date.now().toString(16)}${Math.floor(Math.random() * 0xffff).toString(16)}`, namespace: ns },
      involvedObject: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name, namespace: ns, ...(pod.metadata.uid ? { uid: pod.metadata.uid } : {}) },
      reason, message: message.slice(0, 1024), type, source: { component: 'kubelet', host: this.#o.nodeName },
      firstTimestamp: now, lastTimestamp: now, count: 1, reportingComponent: 'kubelet', reportingInstance: this.#o.nodeName,
    });
  }

  /** Resolves once the first sync of every pod known at start finished. */
  async synced(): Promise<void> {
    await this.#initial;
  }
}

/** Bytes (or cores) of a resource quantity. */
function parseQuantityBytes(q: string | number): number {
  const m = /^([0-9.]+)(Ki|Mi|Gi|Ti|m|k|M|G|T)?$/.exec(String(q));
  if (!m) return Number.NaN;
  const mult: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(m[1]) * (m[2] ? mult[m[2]]! : 1);
}

/** Volume host paths without writing anything (adoption before the first sync). */
function volumePathsGuess(pod: Pod, podDir: string): Map<string, string> {
  return new Map((pod.spec.volumes ?? []).map((v) => [v.name, v.hostPath ? v.hostPath.path : join(podDir, 'volumes', v.name)]));
}

/** Whether the pod uses ConfigMap/Secret `name` (volumes, projected sources, env, envFrom). */
function references(pod: Pod, kind: 'ConfigMap' | 'Secret', name: string): boolean {
  const cm = kind === 'ConfigMap';
  for (const v of pod.spec.volumes ?? []) {
    if (cm ? v.configMap?.name === name : v.secret?.secretName === name) return true;
    for (const s of v.projected?.sources ?? []) if (cm ? s.configMap?.name === name : s.secret?.name === name) return true;
  }
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    for (const e of c.env ?? []) if ((cm ? e.valueFrom?.configMapKeyRef?.name : e.valueFrom?.secretKeyRef?.name) === name) return true;
    for (const e of c.envFrom ?? []) if ((cm ? e.configMapRef?.name : e.secretRef?.name) === name) return true;
  }
  return false;
}
