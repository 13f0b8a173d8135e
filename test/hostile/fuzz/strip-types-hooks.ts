/**
 * Module loader hook for coverage-guided fuzzing: hands Jazzer.js's ESM
 * instrumentor plain JavaScript for our `.ts` modules. Node 24's default
 * `load` returns a `.ts` file as format `module-typescript` and strips its
 * types later, after the hook chain; Jazzer's hook instruments only format
 * `module`, so without this step it sees no edges (libFuzzer: "no
 * interesting inputs were found so far. Is the code instrumented for
 * coverage?"). Registered before Jazzer's own hook (preload.ts), so Jazzer's
 * `nextLoad` reaches it. `strip` mode keeps every line and column in place,
 * so stack traces of findings point at the `.ts` source.
 */
import { stripTypeScriptTypes } from 'node:module';

interface LoadResult {
  format?: string | null;
  source?: string | ArrayBuffer | Uint8Array | null;
  [k: string]: unknown;
}
type NextLoad = (url: string, context: unknown) => Promise<LoadResult>;

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  const r = await nextLoad(url, context);
  if (r.format !== 'module-typescript' || r.source == null) return r;
  const text = typeof r.source === 'string' ? r.source : Buffer.from(r.source instanceof Uint8Array ? r.source : new Uint8Array(r.source)).toString('utf8');
  return { ...r, format: 'module', source: stripTypeScriptTypes(text, { mode: 'strip' }) };
}
