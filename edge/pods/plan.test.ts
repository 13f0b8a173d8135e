import { describe, expect, it } from 'vitest';
import { planPod, type PlanInput } from './plan.ts';
import { containerHash, newRecord, type ContainerRecord, type PodRecord } from './record.ts';
import type { Container, Pod } from './types.ts';

const c = (name: string, extra: Partial<Container> = {}): Container => ({ name, image: 'busybox', command: ['true'], ...extra });
const pod = (spec: Partial<Pod['spec']>): Pod => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [c('main')], ...spec } });
const exited = (name: string, exitCode: number, init = false, finishedAt = 1000): ContainerRecord => ({
  name, init, restartCount: 0, state: 'exited', handle: { id: `${name}-id` }, specHash: containerHash(c(name)),
  exit: { exitCode, reason: exitCode ? 'Error' : 'Completed', startedAt: 0, finishedAt, containerID: `${name}-id` },
});
const running = (name: string, init = false, spec: Container = c(name)): ContainerRecord => ({ name, init, restartCount: 0, state: 'running', startedAt: 0, handle: { id: `${name}-id` }, specHash: containerHash(spec) });
const rec = (containers: ContainerRecord[], extra: Partial<PodRecord> = {}): PodRecord => ({ ...newRecord('u', 'ns', 'p'), containers: Object.fromEntries(containers.map((x) => [x.name, x])), ...extra });
const input = (p: Pod, r: PodRecord, extra: Partial<PlanInput> = {}): PlanInput => ({ pod: p, rec: r, now: 10_000, liveness: () => 'unknown', backoff: () => undefined, ...extra });

describe('planPod', () => {
  it('starts every container of a new pod', () => {
    expect(planPod(input(pod({ containers: [c('a'), c('b')] }), rec([])))).toMatchObject({ start: ['a', 'b'], kill: [] });
  });

  it('runs init containers one at a time, in order, before the app', () => {
    const p = pod({ initContainers: [c('i1'), c('i2')] });
    expect(planPod(input(p, rec([]))).start).toEqual(['i1']);
    expect(planPod(input(p, rec([running('i1', true)]))).start).toEqual([]);
    expect(planPod(input(p, rec([exited('i1', 0, true)]))).start).toEqual(['i2']);
    expect(planPod(input(p, rec([exited('i1', 0, true), exited('i2', 0, true)]))).start).toEqual(['main']);
  });

  it('fails the pod on a failed init container with restartPolicy Never, else retries it with backoff', () => {
    const failed = rec([exited('i1', 1, true)]);
    expect(planPod(input(pod({ restartPolicy: 'Never', initContainers: [c('i1')] }), failed)).terminal).toMatchObject({ phase: 'Failed' });
    const p = pod({ restartPolicy: 'OnFailure', initContainers: [c('i1')] });
    expect(planPod(input(p, failed)).start).toEqual(['i1']);
    const waiting = planPod(input(p, failed, { backoff: () => ({ until: 20_000, backoffMs: 10_000 }) }));
    expect(waiting).toMatchObject({ start: [], backoff: { i1: { until: 20_000 } }, requeueAt: 20_000 });
  });

  it.each([
    ['Always', 0, true], ['Always', 1, true], ['OnFailure', 0, false], ['OnFailure', 1, true], ['Never', 0, false], ['Never', 1, false],
  ] as const)('restartPolicy %s, exit %i: restarts = %s', (policy, code, restarts) => {
    const plan = planPod(input(pod({ restartPolicy: policy }), rec([exited('main', code)])));
    expect(plan.start.includes('main')).toBe(restarts);
    if (!restarts) expect(plan.terminal).toEqual({ phase: code === 0 ? 'Succeeded' : 'Failed' });
  });

  it('waits for the crash-loop backoff before restarting', () => {
    const plan = planPod(input(pod({}), rec([exited('main', 1)]), { backoff: () => ({ until: 15_000, backoffMs: 10_000 }) }));
    expect(plan).toMatchObject({ start: [], backoff: { main: { backoffMs: 10_000 } }, requeueAt: 15_000 });
    expect(plan.terminal).toBeUndefined();
  });

  it('kills a container whose liveness probe failed, or whose spec changed', () => {
    expect(planPod(input(pod({}), rec([running('main')]), { liveness: () => 'failure' })).kill).toEqual([expect.objectContaining({ name: 'main', reason: 'Unhealthy' })]);
    const changed = pod({ containers: [c('main', { image: 'busybox:2' })] });
    expect(planPod(input(changed, rec([running('main')]))).kill).toEqual([expect.objectContaining({ name: 'main', reason: 'SpecChanged' })]);
    expect(planPod(input(pod({}), rec([running('main')]))).kill).toEqual([]);
  });

  it('is terminal only when nothing runs or will restart', () => {
    const p = pod({ restartPolicy: 'Never', containers: [c('a'), c('b')] });
    expect(planPod(input(p, rec([exited('a', 0), running('b')]))).terminal).toBeUndefined();
    expect(planPod(input(p, rec([exited('a', 0), exited('b', 3)]))).terminal).toEqual({ phase: 'Failed' });
    expect(planPod(input(p, rec([exited('a', 0), exited('b', 0)]))).terminal).toEqual({ phase: 'Succeeded' });
  });

  it('enforces activeDeadlineSeconds', () => {
    const p = pod({ activeDeadlineSeconds: 5 });
    expect(planPod(input(p, rec([running('main')], { startTime: 0 }), { now: 4000 }))).toMatchObject({ kill: [], requeueAt: 5000 });
    const late = planPod(input(p, rec([running('main')], { startTime: 0 }), { now: 5000 }));
    expect(late.kill).toEqual([expect.objectContaining({ name: 'main', reason: 'DeadlineExceeded' })]);
    expect(late.terminal).toMatchObject({ phase: 'Failed', reason: 'DeadlineExceeded' });
  });

  it('keeps a terminal pod terminal', () => {
    expect(planPod(input(pod({}), rec([exited('main', 0)], { terminalPhase: 'Succeeded' }))).terminal).toEqual({ phase: 'Succeeded' });
  });
});
