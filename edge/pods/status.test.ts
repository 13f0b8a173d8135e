import { describe, expect, it } from 'vitest';
import { containerHash, newRecord, type ContainerRecord, type PodRecord } from './record.ts';
import { podStatus, statusDiffers, type StatusInput } from './status.ts';
import type { Container, Pod } from './types.ts';

const c = (name: string): Container => ({ name, image: 'busybox:1.35', command: ['true'] });
const pod = (spec: Partial<Pod['spec']>, status?: Pod['status']): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [c('main')], ...spec }, ...(status ? { status } : {}) });
const run = (name: string, restartCount = 0): ContainerRecord => ({ name, init: false, restartCount, state: 'running', startedAt: 5000, handle: { id: `${name}-${restartCount}` }, specHash: containerHash(c(name)) });
const done = (name: string, exitCode: number, init = false): ContainerRecord => ({
  name, init, restartCount: 0, state: 'exited', handle: { id: `${name}-0` }, exit: { exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: 1000, finishedAt: 2000, containerID: `${name}-0` },
});
const rec = (xs: ContainerRecord[], extra: Partial<PodRecord> = {}): PodRecord => ({ ...newRecord('u', 'ns', 'p'), startTime: 1000, containers: Object.fromEntries(xs.map((x) => [x.name, x])), ...extra });
const input = (p: Pod, r: PodRecord, extra: Partial<StatusInput> = {}): StatusInput => ({
  pod: p, rec: r, now: 10_000, runtimeScheme: 'process', hostIP: '10.0.0.7', waiting: {}, ready: () => true, started: () => true, sandboxReady: true, ...extra,
});
const cond = (s: ReturnType<typeof podStatus>, t: string) => s.conditions?.find((x) => x.type === t);

describe('podStatus', () => {
  it('reports a running, ready pod like the kubelet', () => {
    const s = podStatus(input(pod({}), rec([run('main')])));
    expect(s).toMatchObject({ phase: 'Running', hostIP: '10.0.0.7', podIP: '10.0.0.7', podIPs: [{ ip: '10.0.0.7' }], startTime: '1970-01-01T00:00:01Z' });
    expect(s.containerStatuses![0]).toEqual({
      name: 'main', state: { running: { startedAt: '1970-01-01T00:00:05Z' } }, lastState: {}, ready: true, restartCount: 0, image: 'busybox:1.35', imageID: '', containerID: 'process://main-0', started: true,
    });
    for (const t of ['PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready', 'PodScheduled']) expect(cond(s, t)?.status).toBe('True');
  });

  it('shows a container in backoff as CrashLoopBackOff over its last termination, and the pod Running', () => {
    const s = podStatus(input(pod({}), rec([{ ...done('main', 1), restartCount: 2 }]), { waiting: { main: { reason: 'CrashLoopBackOff', message: 'back-off 20s' } } }));
    expect(s.phase).toBe('Running');
    expect(s.containerStatuses![0]).toMatchObject({ ready: false, restartCount: 2, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: { terminated: { exitCode: 1, reason: 'Error' } } });
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [main]' });
  });

  it('derives the phase like getPhase', () => {
    expect(podStatus(input(pod({}), rec([]))).phase).toBe('Pending');
    expect(podStatus(input(pod({ restartPolicy: 'Never' }), rec([done('main', 0)]))).phase).toBe('Succeeded');
    expect(podStatus(input(pod({ restartPolicy: 'Never' }), rec([done('main', 1)]))).phase).toBe('Failed');
    expect(podStatus(input(pod({ restartPolicy: 'OnFailure' }), rec([done('main', 1)]))).phase).toBe('Running');
    expect(podStatus(input(pod({ initContainers: [c('init')] }), rec([run('init')]))).phase).toBe('Pending');
    expect(podStatus(input(pod({ restartPolicy: 'Never', initContainers: [c('init')] }), rec([done('init', 1, true)]))).phase).toBe('Failed');
  });

  it('waits regular containers with PodInitializing while init containers run', () => {
    const s = podStatus(input(pod({ initContainers: [c('init')] }), rec([run('init')])));
    expect(s.containerStatuses![0]!.state).toEqual({ waiting: { reason: 'PodInitializing' } });
    expect(cond(s, 'Initialized')).toMatchObject({ status: 'False', reason: 'ContainersNotInitialized', message: 'containers with incomplete status: [init]' });
  });

  it('keeps transition times while a condition holds, and conditions owned by others', () => {
    const p = pod({}, { conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: '2020-01-01T00:00:00Z' }, { type: 'Ready', status: 'True', lastTransitionTime: '2021-01-01T00:00:00Z' }] });
    const s = podStatus(input(p, rec([run('main')]), { now: 99_000 }));
    expect(cond(s, 'Ready')!.lastTransitionTime).toBe('2021-01-01T00:00:00Z');
    expect(cond(s, 'PodScheduled')!.lastTransitionTime).toBe('2020-01-01T00:00:00Z');
    expect(cond(s, 'Initialized')!.lastTransitionTime).toBe('1970-01-01T00:01:39Z');
    expect(JSON.stringify(podStatus(input(p, rec([run('main')]), { now: 99_000 })))).toBe(JSON.stringify(s)); // deterministic
  });

  it('statusDiffers ignores what does not matter and sees what does', () => {
    const ours = podStatus(input(pod({}), rec([run('main')])));
    expect(statusDiffers(ours, ours)).toBe(false);
    expect(statusDiffers({ ...ours, startTime: 'x' }, ours)).toBe(false);
    expect(statusDiffers(undefined, ours)).toBe(true);
    expect(statusDiffers({ ...ours, phase: 'Pending' }, ours)).toBe(true);
    expect(statusDiffers({ ...ours, containerStatuses: [{ ...ours.containerStatuses![0]!, restartCount: 3 }] }, ours)).toBe(true);
  });
});
