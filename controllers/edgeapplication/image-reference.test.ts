import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatImage, ImageReferenceError, parseImage } from './image-reference.ts';

const sha = 'sha256:' + 'a'.repeat(64);

describe('parseImage', () => {
  it.each([
    ['nginx', { registry: '', repository: 'nginx', tag: '', digest: '' }],
    ['nginx:1.25', { registry: '', repository: 'nginx', tag: '1.25', digest: '' }],
    ['library/nginx:1.25', { registry: '', repository: 'library/nginx', tag: '1.25', digest: '' }],
    ['docker.io/library/nginx:1.25', { registry: 'docker.io', repository: 'library/nginx', tag: '1.25', digest: '' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: '', digest: '' }],
    ['localhost:5000/app:1', { registry: 'localhost:5000', repository: 'app', tag: '1', digest: '' }],
    ['registry.example.com:5000/team/app:v1', { registry: 'registry.example.com:5000', repository: 'team/app', tag: 'v1', digest: '' }],
    [`app@${sha}`, { registry: '', repository: 'app', tag: '', digest: sha }],
    [`reg.io:443/app:1@${sha}`, { registry: 'reg.io:443', repository: 'app', tag: '1', digest: sha }],
    ['[::1]:5000/app:1', { registry: '[::1]:5000', repository: 'app', tag: '1', digest: '' }],
    ['Registry/app', { registry: 'Registry', repository: 'app', tag: '', digest: '' }],
  ])('%s', (image, want) => {
    expect(parseImage(image)).toEqual(want);
    expect(formatImage(parseImage(image))).toBe(image);
  });

  it.each([
    ['Nginx', /invalid repository "Nginx"/],
    ['nginx:', /invalid tag ""/],
    ['nginx:-x', /invalid tag "-x"/],
    ['nginx@sha256:zz', /invalid digest/],
    ['reg.io//app', /invalid repository/],
    ['', /invalid repository ""/],
  ])('rejects %j', (image, msg) => {
    expect(() => parseImage(image)).toThrow(ImageReferenceError);
    expect(() => parseImage(image)).toThrow(msg);
  });

  it('round-trips every valid reference (property)', () => {
    const comp = fc.stringMatching(/^[a-z0-9]{1,5}([._-][a-z0-9]{1,4})?$/);
    const ref = fc.record({
      registry: fc.oneof(fc.constant(''), fc.constant('localhost:5000'), fc.stringMatching(/^[a-z]{1,6}\.[a-z]{2,3}(:[0-9]{2,5})?$/)),
      repository: fc.array(comp, { minLength: 1, maxLength: 3 }).map((a) => a.join('/')),
      tag: fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}$/)),
      digest: fc.oneof(fc.constant(''), fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`)),
    });
    fc.assert(
      fc.property(ref, (r) => {
        // Without a registry, a first path component that looks like a host would be read as one.
        fc.pre(r.registry !== '' || !/[.:]|^localhost$/.test(r.repository.split('/')[0]!) || !r.repository.includes('/'));
        expect(parseImage(formatImage(r))).toEqual(r);
      }),
    );
  });
});
