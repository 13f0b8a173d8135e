import { join } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { criDescriptorFiles } from '../../../hack/generate-cri.ts';
import { driftOf } from '../../../hack/generated-files.ts';
import { CRI_API } from './api-descriptor.ts';
import { ProtoCodec, type Field } from './codec.ts';

const root = join(import.meta.dirname, '..', '..', '..');
const codec = new ProtoCodec(CRI_API);

// the oracle: protobufjs through @grpc/proto-loader, with the options the client used before codec.ts
type Ser = { requestSerialize: (o: object) => Buffer; requestDeserialize: (b: Buffer) => object; responseSerialize: (o: object) => Buffer; responseDeserialize: (b: Buffer) => object };
const def = loadSync(join(import.meta.dirname, 'api.proto'), { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true }) as unknown as Record<string, Record<string, Ser>>;
const oracle = new Map<string, { serialize: (o: object) => Buffer; deserialize: (b: Buffer) => object }>();
for (const [service, methods] of Object.entries(CRI_API.services)) {
  for (const [name, [req, res]] of Object.entries(methods)) {
    const m = def[`runtime.v1.${service}`]![name]!;
    oracle.set(req, { serialize: m.requestSerialize, deserialize: m.requestDeserialize });
    oracle.set(res, { serialize: m.responseSerialize, deserialize: m.responseDeserialize });
  }
}

const text = fc.string({ unit: 'binary', maxLength: 8 });
/** A random object of message `type`: any field may be missing; values of the field's kind. */
function message(type: string, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const fields = CRI_API.messages[type]!;
  const rec: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of fields) {
    if (f[2] === 'message' && depth <= 0) continue;
    rec[f[0]] = f[2] === 'map' ? fc.dictionary(fc.string({ maxLength: 6 }), text, { maxKeys: 3 }) : f[3] ? fc.array(value(f, depth), { maxLength: 3 }) : value(f, depth);
  }
  return fc.record(rec, { requiredKeys: [] });
}
function value(f: Field, depth: number): fc.Arbitrary<unknown> {
  switch (f[2]) {
    case 'string': return text;
    case 'bytes': return fc.uint8Array({ maxLength: 6 }).map((a) => Buffer.from(a));
    case 'bool': return fc.boolean();
    case 'int32': return fc.integer();
    case 'uint32': return fc.nat();
    case 'int64': return fc.maxSafeInteger();
    case 'uint64': return fc.maxSafeNat();
    case 'double': return fc.double({ noNaN: true });
    case 'enum': return fc.constantFrom(...Object.keys(CRI_API.enums[f[4]!]!));
    case 'message': return fc.constant(null).chain(() => message(f[4]!, depth - 1));
    default: throw new Error(f[2]);
  }
}

describe('CRI codec (edge/pods/cri/codec.ts)', () => {
  it('api-descriptor.ts is up to date with api.proto (else run `node hack/generate-cri.ts`)', () => {
    expect(driftOf(criDescriptorFiles(), root)).toEqual([]);
  });

  it('covers every unary method of api.proto', () => {
    for (const service of ['RuntimeService', 'ImageService']) {
      const unary = Object.entries(def[`runtime.v1.${service}`]!).filter(([, m]) => !(m as unknown as { requestStream: boolean; responseStream: boolean }).requestStream && !(m as unknown as { responseStream: boolean }).responseStream).map(([n]) => n);
      expect(Object.keys(CRI_API.services[service]!)).toEqual(unary);
    }
  });

  it('encodes byte for byte as protobufjs, and decodes to the same objects, for every request and response type', () => {
    for (const [type, o] of oracle) {
      fc.assert(fc.property(message(type, 3), (obj) => {
        const ours = codec.encode(type, obj);
        const theirs = o.serialize(obj);
        expect(ours.equals(theirs)).toBe(true);
        expect(codec.decode(type, theirs)).toStrictEqual(o.deserialize(theirs));
      }), { numRuns: 25 });
    }
  });

  it('decodes every field with its default when absent, enums by name', () => {
    const r = codec.decode('ContainerStatusResponse', Buffer.alloc(0));
    expect(r).toStrictEqual(oracle.get('ContainerStatusResponse')!.deserialize(Buffer.alloc(0)));
    expect(r).toEqual({ info: {}, status: null });
    const s = codec.decode('ContainerStatus', Buffer.alloc(0));
    expect(s).toMatchObject({ id: '', state: 'CONTAINER_CREATED', created_at: 0, exit_code: 0, labels: {}, mounts: [], resources: null });
  });

  it('accepts unpacked repeated numbers, skips unknown fields, keeps an unknown enum number', () => {
    // LinuxSandboxSecurityContext.supplemental_groups (5, int64) unpacked: 5 and -1; field 99 (varint); PodSandboxStateValue.state = 7
    const unpacked = Buffer.from([0x28, 5, 0x28, ...Array(9).fill(0xff), 0x01, 0x98, 0x06, 1]);
    expect(codec.decode('LinuxSandboxSecurityContext', unpacked).supplemental_groups).toEqual([5, -1]);
    const enumBuf = Buffer.from([0x08, 7]);
    expect(codec.decode('PodSandboxStateValue', enumBuf)).toStrictEqual({ state: 7 });
  });

  it('leaves an unknown enum name unset and rejects fields of the wrong shape, as protobufjs does', () => {
    expect(codec.encode('PodSandboxStateValue', { state: 'NO_SUCH_STATE' }).length).toBe(0);
    expect(() => codec.encode('ListContainersRequest', { filter: 'x' })).toThrow(new TypeError('.runtime.v1.ListContainersRequest.filter: object expected'));
    expect(() => codec.encode('ExecSyncRequest', { cmd: 'ls' })).toThrow(new TypeError('.runtime.v1.ExecSyncRequest.cmd: array expected'));
    expect(() => codec.encode('ContainerFilter', { label_selector: 1 })).toThrow(new TypeError('.runtime.v1.ContainerFilter.label_selector: object expected'));
  });

  it('rejects truncated and malformed input with a RangeError', () => {
    const ok = codec.encode('VersionResponse', { version: '0.1.0' });
    for (let n = 1; n < ok.length; n++) expect(() => codec.decode('VersionResponse', ok.subarray(0, n))).toThrow(RangeError);
    expect(() => codec.decode('VersionResponse', Buffer.from([0x7f]))).toThrow('protobuf: invalid wire type 7');
    expect(() => codec.decode('VersionResponse', Buffer.from([0x08, ...Array(10).fill(0xff), 1]))).toThrow('protobuf: varint longer than 10 bytes');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      try {
        codec.decode('ListContainerStatsResponse', Buffer.from(bytes));
      } catch (err) {
        expect(err).toBeInstanceOf(RangeError);
      }
    }), { numRuns: 500 });
  });
});
