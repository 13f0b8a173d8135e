/**
 * Offline checks of the API surface, fast enough for every change: the generated CRDs follow our
 * schema conventions (api/README.md), every sample conforms to its schema, and every invalid
 * fixture is well formed. CEL rules and the exact API-server messages are proved against a real
 * API server by api/crds.int.test.ts.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import YAML from 'yaml';

type Schema = { [k: string]: unknown };
interface Crd {
  spec: {
    group: string;
    names: { kind: string; plural: string; shortNames?: string[]; categories?: string[] };
    versions: { name: string; subresources?: Schema; additionalPrinterColumns?: { name: string; jsonPath: string }[]; schema: { openAPIV3Schema: Schema } }[];
  };
}

const root = join(import.meta.dirname, '..');
const yamlFiles = (dir: string) => readdirSync(join(root, dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort();
const crds: Crd[] = yamlFiles('config/crd/bases').map((f) => YAML.parse(readFileSync(join(root, 'config/crd/bases', f), 'utf8')) as Crd);
const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Calls `visit` on every schema node with its path (`.spec.properties[]`, `.spec.matchLabels{}`). */
function walk(node: Schema, path: string, visit: (node: Schema, path: string, isField: boolean) => void, isField = false): void {
  visit(node, path, isField);
  for (const [k, v] of Object.entries((node.properties as Record<string, Schema>) ?? {})) walk(v, `${path}.${k}`, visit, true);
  if (isObject(node.items)) walk(node.items, `${path}[]`, visit);
  if (isObject(node.additionalProperties)) walk(node.additionalProperties, `${path}{}`, visit);
}

/** The schema node a printer-column JSONPath points at, or undefined. Filters like [?(...)] step into array items. */
function resolveJsonPath(schema: Schema, jsonPath: string): Schema | undefined {
  let node: Schema | undefined = schema;
  for (const part of jsonPath.replace(/\[\?\(.*?\)\]/g, '[]').split('.').filter(Boolean)) {
    const [name, ...indexes] = part.split('[]');
    if (name === 'metadata' && node === schema) return { type: 'object' }; // ObjectMeta is built in
    node = (node?.properties as Record<string, Schema> | undefined)?.[name!];
    for (let i = 1; i < indexes.length + 1; i++) node = node?.items as Schema | undefined;
  }
  return node;
}

/**
 * A small structural validator with the API server's semantics for what our schemas use:
 * unknown fields are errors (the server would prune them), preserve-unknown subtrees are not checked.
 */
function validate(schema: Schema, value: unknown, path: string, errors: string[]): void {
  if (schema['x-kubernetes-int-or-string'] === true) {
    if (typeof value !== 'number' && typeof value !== 'string') errors.push(`${path}: must be an integer or a string`);
    else if (typeof value === 'string' && typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
    return;
  }
  const type = schema.type;
  if (type === 'object') {
    if (!isObject(value)) return void errors.push(`${path}: must be an object`);
    for (const r of (schema.required as string[] | undefined) ?? []) if (!(r in value)) errors.push(`${path}.${r}: required`);
    const props = schema.properties as Record<string, Schema> | undefined;
    const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
    for (const [k, v] of Object.entries(value)) {
      if (props?.[k]) validate(props[k], v, `${path}.${k}`, errors);
      else if (isObject(schema.additionalProperties)) validate(schema.additionalProperties, v, `${path}.${k}`, errors);
      else if (!preserve && props) errors.push(`${path}.${k}: unknown field`);
    }
  } else if (type === 'array') {
    if (!Array.isArray(value)) return void errors.push(`${path}: must be an array`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) errors.push(`${path}: more than ${schema.maxItems} items`);
    value.forEach((v, i) => validate(schema.items as Schema, v, `${path}[${i}]`, errors));
  } else if (type === 'string') {
    if (typeof value !== 'string') return void errors.push(`${path}: must be a string`);
    if (Array.isArray(schema.enum) && !schema.enum.includes(value)) errors.push(`${path}: ${JSON.stringify(value)} not in ${schema.enum.join('|')}`);
    if (typeof schema.minLength === 'number' && value.length < schema.minLength) errors.push(`${path}: shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && value.length > schema.maxLength) errors.push(`${path}: longer than ${schema.maxLength}`);
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value)) errors.push(`${path}: does not match ${schema.pattern}`);
  } else if (type === 'integer') {
    if (!Number.isInteger(value)) return void errors.push(`${path}: must be an integer`);
    if (typeof schema.minimum === 'number' && (value as number) < schema.minimum) errors.push(`${path}: below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && (value as number) > schema.maximum) errors.push(`${path}: above ${schema.maximum}`);
  } else if (type === 'boolean') {
    if (typeof value !== 'boolean') errors.push(`${path}: must be a boolean`);
  }
}

function schemaFor(apiVersion: string, kind: string): Schema | undefined {
  for (const crd of crds) {
    for (const v of crd.spec.versions) {
      if (`${crd.spec.group}/${v.name}` === apiVersion && crd.spec.names.kind === kind) return v.schema.openAPIV3Schema;
    }
  }
  return undefined;
}

// Short names the API server itself serves (Kubernetes v1.36, `kubectl api-resources`); ours must not shadow them.
const BUILT_IN_SHORT_NAMES = ['cj', 'cm', 'crd', 'crds', 'cs', 'csr', 'deploy', 'ds', 'ep', 'ev', 'hpa', 'ing', 'ip', 'limits', 'netpol', 'no', 'ns', 'pc', 'pdb', 'po', 'pv', 'pvc', 'quota', 'rc', 'rs', 'sa', 'sc', 'sts', 'svc', 'vac'];

describe('generated CRDs', () => {
  it('cover the four KubeEdge-compatible Kinds', () => {
    expect(crds.map((c) => `${c.spec.names.kind}.${c.spec.group}`).sort()).toEqual([
      'Device.devices.kubeedge.io',
      'DeviceModel.devices.kubeedge.io',
      'EdgeApplication.apps.kubeedge.io',
      'NodeGroup.apps.kubeedge.io',
    ]);
  });

  describe.each(crds.map((c) => [c.spec.names.kind, c] as const))('%s', (_kind, crd) => {
    const version = crd.spec.versions[0]!;
    const schema = version.schema.openAPIV3Schema;

    it('documents every field (kubectl explain)', () => {
      const missing: string[] = [];
      walk(schema, '', (node, path, isField) => {
        if (isField && path !== '.metadata' && !(typeof node.description === 'string' && node.description.length > 0)) missing.push(path);
      });
      expect(missing).toEqual([]);
    });

    it('is structural: every node typed, no properties next to additionalProperties', () => {
      const problems: string[] = [];
      walk(schema, '', (node, path) => {
        if (node['x-kubernetes-int-or-string'] !== true && typeof node.type !== 'string') problems.push(`${path}: no type`);
        if (node.properties && node.additionalProperties !== undefined) problems.push(`${path}: properties and additionalProperties`);
        if (node.type === 'array' && !isObject(node.items)) problems.push(`${path}: array without items`);
      });
      expect(problems).toEqual([]);
    });

    it('bounds every list that a CEL rule iterates (CEL cost budget)', () => {
      const unbounded: string[] = [];
      walk(schema, '', (node, path) => {
        if (node.type === 'array' && node['x-kubernetes-validations'] && typeof node.maxItems !== 'number') unbounded.push(path);
      });
      expect(unbounded).toEqual([]);
    });

    it('has a status subresource with observedGeneration and conditions', () => {
      expect(version.subresources).toEqual({ status: {} });
      const status = (schema.properties as Record<string, Schema>).status!;
      const props = status.properties as Record<string, Schema>;
      expect(props.observedGeneration?.type).toBe('integer');
      expect(props.conditions?.['x-kubernetes-list-type']).toBe('map');
      expect(props.conditions?.['x-kubernetes-list-map-keys']).toEqual(['type']);
    });

    it('has printer columns that point at real fields', () => {
      for (const col of version.additionalPrinterColumns ?? []) {
        expect(resolveJsonPath(schema, col.jsonPath), `${col.name}: ${col.jsonPath}`).toBeDefined();
      }
    });

    it('has categories and short names that do not shadow built-in ones', () => {
      expect(crd.spec.names.categories).toEqual(['outpost', 'kubeedge']);
      for (const s of crd.spec.names.shortNames ?? []) expect(BUILT_IN_SHORT_NAMES).not.toContain(s);
    });
  });

  it('short names are unique across our Kinds', () => {
    const all = crds.flatMap((c) => c.spec.names.shortNames ?? []);
    expect(new Set(all).size).toBe(all.length);
  });
});

describe('config/samples', () => {
  const docs = yamlFiles('config/samples').flatMap((file) =>
    YAML.parseAllDocuments(readFileSync(join(root, 'config/samples', file), 'utf8')).map((d) => [file, d.toJS() as Schema] as const),
  );

  it('has at least one sample per Kind', () => {
    const kinds = new Set(docs.map(([, d]) => d.kind));
    for (const crd of crds) expect(kinds).toContain(crd.spec.names.kind);
  });

  it('kustomization lists every sample file', () => {
    const k = YAML.parse(readFileSync(join(root, 'config/samples/kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect([...k.resources].sort()).toEqual(yamlFiles('config/samples'));
  });

  it.each(docs.map(([file, d]) => [`${file} ${d.kind}/${(d.metadata as Schema | undefined)?.name}`, d] as const))('%s conforms to its schema', (_name, doc) => {
    const schema = schemaFor(String(doc.apiVersion), String(doc.kind));
    expect(schema, `no schema for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
    // Samples are applied with `kubectl apply -n <namespace>`, so they must not pin one.
    expect((doc.metadata as Schema).namespace).toBeUndefined();
    const errors: string[] = [];
    validate(schema!, doc, '', errors);
    expect(errors).toEqual([]);
  });
});

describe('test/fixtures/crd/invalid', () => {
  const dir = 'test/fixtures/crd/invalid';
  const files = yamlFiles(dir);

  it('has at least 18 cases', () => expect(files.length).toBeGreaterThanOrEqual(18));

  it.each(files)('%s starts with "# expect:" and holds one object of one of our Kinds', (file) => {
    const text = readFileSync(join(root, dir, file), 'utf8');
    expect(text.startsWith('# expect: ')).toBe(true);
    const docs = YAML.parseAllDocuments(text);
    expect(docs).toHaveLength(1);
    const obj = docs[0]!.toJS() as Schema;
    expect(schemaFor(String(obj.apiVersion), String(obj.kind))).toBeDefined();
  });
});
