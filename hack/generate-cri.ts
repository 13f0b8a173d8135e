/**
 * Writes edge/pods/cri/api-descriptor.ts from edge/pods/cri/api.proto: the
 * CRI v1 messages, enums and unary methods in the compact form that
 * edge/pods/cri/codec.ts reads, so the agent encodes CRI calls without
 * loading protobufjs and parsing the .proto at run time (docs/benchmarks.md
 * "Agent memory"). The .proto is read with @grpc/proto-loader, as the agent
 * did before. Fails, naming the field, on a construct the codec does not
 * implement (oneof, proto3 `optional`, nested types other than map entries,
 * maps other than map<string, string>).
 *
 * Usage: `node hack/generate-cri.ts` writes; `--check` exits 1 when the file differs.
 * edge/pods/cri/codec.test.ts fails on drift too.
 */
import { resolve } from 'node:path';
import { loadSync } from '@grpc/proto-loader';
import type { Field, FieldKind, ProtoApi } from '../edge/pods/cri/codec.ts';
import { writeOrCheck } from './generated-files.ts';

const root = resolve(import.meta.dirname, '..');
const PROTO = 'edge/pods/cri/api.proto';
const OUT = 'edge/pods/cri/api-descriptor.ts';

interface FieldDescriptor { name: string; number: number; label: string; type: string; typeName: string; proto3Optional: boolean }
interface EnumDescriptor { name: string; value: { name: string; number: number }[] }
interface MessageDescriptor { name: string; field: FieldDescriptor[]; nestedType: MessageDescriptor[]; enumType: EnumDescriptor[]; oneofDecl: unknown[]; options: { mapEntry?: boolean } | null }
interface MethodDefinition { requestStream: boolean; responseStream: boolean; requestType: { type: { name: string } }; responseType: { type: { name: string } } }

const KINDS: Record<string, FieldKind> = {
  TYPE_STRING: 'string', TYPE_BYTES: 'bytes', TYPE_BOOL: 'bool', TYPE_INT32: 'int32', TYPE_UINT32: 'uint32',
  TYPE_INT64: 'int64', TYPE_UINT64: 'uint64', TYPE_DOUBLE: 'double', TYPE_ENUM: 'enum', TYPE_MESSAGE: 'message',
};

/** The descriptor of `proto` (package runtime.v1). Pure apart from reading the file; deterministic (declaration order). */
export function criApi(proto = resolve(root, PROTO)): ProtoApi {
  const def = loadSync(proto, { keepCase: true, longs: Number, enums: String, defaults: true, oneofs: true }) as unknown as Record<string, Record<string, unknown>>;
  const pkg = 'runtime.v1';
  const api = { package: pkg, services: {} as Record<string, Record<string, [string, string]>>, enums: {} as Record<string, Record<string, number>>, messages: {} as Record<string, Field[]> };
  for (const [full, d] of Object.entries(def)) {
    if (!full.startsWith(`${pkg}.`)) throw new Error(`${PROTO}: ${full} is outside package ${pkg}`);
    const name = full.slice(pkg.length + 1);
    if (d.format === 'Protocol Buffer 3 EnumDescriptorProto') {
      api.enums[name] = Object.fromEntries((d.type as EnumDescriptor).value.map((v) => [v.name, v.number]));
    } else if (d.format === 'Protocol Buffer 3 DescriptorProto') {
      const t = d.type as MessageDescriptor;
      // nested enums (SecurityProfile.ProfileType) are not listed on their own by proto-loader
      for (const e of t.enumType) api.enums[`${name}.${e.name}`] = Object.fromEntries(e.value.map((v) => [v.name, v.number]));
      api.messages[name] = fieldsOf(t);
    } else {
      // a service: method name → definition
      const methods: Record<string, [string, string]> = {};
      for (const [m, md] of Object.entries(d as unknown as Record<string, MethodDefinition>)) {
        if (md.requestStream || md.responseStream) continue;
        methods[m] = [md.requestType.type.name, md.responseType.type.name];
      }
      api.services[name] = methods;
    }
  }
  for (const [m, fields] of Object.entries(api.messages)) {
    for (const [f, , kind, , ref] of fields) {
      if ((kind === 'enum' && !api.enums[ref!]) || (kind === 'message' && !api.messages[ref!])) throw new Error(`${PROTO}: ${m}.${f} refers to ${ref}, which is not in package ${pkg}`);
    }
  }
  return api;
}

function fieldsOf(t: MessageDescriptor): Field[] {
  const where = (f?: FieldDescriptor) => `${PROTO}: ${t.name}${f ? `.${f.name}` : ''}`;
  if (t.oneofDecl.length) throw new Error(`${where()}: oneofs are not implemented by edge/pods/cri/codec.ts`);
  const maps = new Set<string>();
  for (const n of t.nestedType) {
    const [k, v] = n.field;
    if (!n.options?.mapEntry || k?.type !== 'TYPE_STRING' || v?.type !== 'TYPE_STRING') throw new Error(`${where()}: nested type ${n.name}: only map<string, string> is implemented by edge/pods/cri/codec.ts`);
    maps.add(n.name);
  }
  return t.field.map((f): Field => {
    if (f.proto3Optional) throw new Error(`${where(f)}: proto3 optional is not implemented by edge/pods/cri/codec.ts`);
    // proto-loader gives the bare name; a nested enum shadows a top-level one (protobuf scoping)
    const bare = f.typeName.split('.').pop()!;
    const ref = f.type === 'TYPE_ENUM' && t.enumType.some((e) => e.name === bare) ? `${t.name}.${bare}` : bare;
    if (f.type === 'TYPE_MESSAGE' && maps.has(ref)) return [f.name, f.number, 'map', 0];
    const kind = KINDS[f.type];
    if (!kind) throw new Error(`${where(f)}: ${f.type} is not implemented by edge/pods/cri/codec.ts`);
    const repeated = f.label === 'LABEL_REPEATED' ? 1 : 0;
    return kind === 'enum' || kind === 'message' ? [f.name, f.number, kind, repeated, ref] : [f.name, f.number, kind, repeated];
  });
}

/** api-descriptor.ts for `api`: one line per method, enum and message. */
export function renderCriApi(api: ProtoApi): string {
  const q = (s: string) => `'${s}'`;
  const lines = [
    `// GENERATED by hack/generate-cri.ts from ${PROTO}. DO NOT EDIT.`,
    '// CRI v1 messages, enums and unary methods for edge/pods/cri/codec.ts (field: [name, number, kind, repeated, enum or message]).',
    "import type { ProtoApi } from './codec.ts';",
    '',
    'export const CRI_API: ProtoApi = {',
    `  package: ${q(api.package)},`,
    '  services: {',
    ...Object.entries(api.services).flatMap(([s, methods]) => [
      `    ${s}: {`,
      ...Object.entries(methods).map(([m, [req, res]]) => `      ${m}: [${q(req)}, ${q(res)}],`),
      '    },',
    ]),
    '  },',
    '  enums: {',
    ...Object.entries(api.enums).map(([e, values]) => `    ${e.includes('.') ? q(e) : e}: { ${Object.entries(values).map(([k, v]) => `${k}: ${v}`).join(', ')} },`),
    '  },',
    '  messages: {',
    ...Object.entries(api.messages).map(([m, fields]) => `    ${m}: [${fields.map((f) => `[${f.map((x) => (typeof x === 'string' ? q(x) : String(x))).join(', ')}]`).join(', ')}],`),
    '  },',
    '};',
    '',
  ];
  return lines.join('\n');
}

/** The generated file (path relative to the repository root) and its content. */
export function criDescriptorFiles(): { path: string; content: string }[] {
  return [{ path: OUT, content: renderCriApi(criApi()) }];
}

if (import.meta.main) process.exit(writeOrCheck('generate-cri', criDescriptorFiles(), root, process.argv.slice(2)));
