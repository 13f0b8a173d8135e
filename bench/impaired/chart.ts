/**
 * `node bench/impaired/chart.ts [--edges 20] [--out docs/hub-impaired.svg]`
 *
 * Draws the impaired-link matrix (bench/results/hub-impaired-*.json, written
 * by `bench/hub-impaired.ts --out`) as one SVG: a panel per measurement
 * (small update fan-out, large update fan-out, resume), a group per link
 * condition (loss each way / one-way delay), WebSocket and QUIC side by side.
 * Bars are p99, the dark tick is p50; the y axis is logarithmic. A run whose
 * fan-out lost samples (an edge never got the update in time) is hatched.
 * Plain string templates, no dependencies. Also prints the matrix as a
 * Markdown table (every edge count) on stdout, for docs/benchmarks.md.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

interface Phase { p50Ms: number | null; p99Ms: number | null; missing?: number }
interface Result {
  edges: number; protocol: 'ws' | 'quic'; impairment: { lossPctEachWay: number; delayMsEachWay: number };
  fanoutSmall: Phase & { payloadBytes: number }; fanoutLarge: Phase & { payloadBytes: number }; resume: Phase; loadavg: { start: number[] }; date: string;
}

const root = join(import.meta.dirname, '..', '..');
const { values } = parseArgs({ options: { edges: { type: 'string', default: '20' }, out: { type: 'string', default: join(root, 'docs', 'hub-impaired.svg') } } });
const dir = join(root, 'bench', 'results');
const results = readdirSync(dir).filter((f) => /^hub-impaired-.*\.json$/.test(f))
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Result)
  .filter((r) => r.edges === Number(values.edges));
if (results.length === 0) throw new Error(`no bench/results/hub-impaired-*.json with ${values.edges} edges: run bench/hub-impaired.ts --out first`);

const conds = [...new Set(results.map((r) => `${r.impairment.delayMsEachWay}|${r.impairment.lossPctEachWay}`))]
  .map((k) => k.split('|').map(Number) as [number, number])
  .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
const find = (d: number, l: number, p: string) => results.find((r) => r.impairment.delayMsEachWay === d && r.impairment.lossPctEachWay === l && r.protocol === p);
const largeKiB = Math.round((results[0]!.fanoutLarge.payloadBytes) / 1024);
const panels: { title: string; get: (r: Result) => Phase }[] = [
  { title: `Fan-out of a ${results[0]!.fanoutSmall.payloadBytes} B ConfigMap update to every edge`, get: (r) => r.fanoutSmall },
  { title: `Fan-out of a ${largeKiB} KiB ConfigMap update to every edge`, get: (r) => r.fanoutLarge },
  { title: 'Every edge reconnects at once: dial to sync-done, per edge', get: (r) => r.resume },
];

const W = 980;
const PH = 230;
const left = 70;
const top0 = 58;
const plotW = W - left - 20;
const plotH = PH - 70;
const colors = { ws: '#3b6ea8', quic: '#d9822b' };
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const all = results.flatMap((r) => panels.flatMap((p) => [p.get(r).p50Ms, p.get(r).p99Ms])).filter((x): x is number => x !== null && x > 0);
const lo = 10 ** Math.floor(Math.log10(Math.max(1, Math.min(...all))));
const hi = 10 ** Math.ceil(Math.log10(Math.max(...all)));
const y = (v: number) => Math.round(10 * (plotH - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) * plotH)) / 10;
const fmt = (v: number) => (v >= 1000 ? `${Number((v / 1000).toFixed(v >= 10_000 ? 0 : 1))} s` : `${Math.round(v)} ms`);

const out: string[] = [];
const H = top0 + panels.length * PH + 10;
out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif" font-size="11">`);
out.push('<defs><pattern id="hatch" width="5" height="5" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="5" stroke="#fff" stroke-width="2"/></pattern></defs>');
out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
const first = results.map((r) => r.date).sort()[0]!.slice(0, 10);
out.push(`<text x="${left}" y="22" font-size="15" font-weight="600">CloudHub over an impaired link: WebSocket vs QUIC, ${values.edges} edges (${first})</text>`);
out.push(`<text x="${left}" y="46" fill="#555">bar = p99, dark tick = p50, log scale; groups = one-way delay / loss each way; hatched = some edges missed an update within the phase timeout</text>`);
out.push(`<rect x="${W - 150}" y="10" width="10" height="10" fill="${colors.ws}"/><text x="${W - 136}" y="19">WebSocket (TCP)</text>`);
out.push(`<rect x="${W - 150}" y="24" width="10" height="10" fill="${colors.quic}"/><text x="${W - 136}" y="33">QUIC</text>`);
panels.forEach((panel, pi) => {
  const oy = top0 + pi * PH + 20;
  out.push(`<g transform="translate(${left},${oy})">`);
  out.push(`<text x="0" y="-6" font-size="12" font-weight="600">${esc(panel.title)}</text>`);
  for (let e = Math.log10(lo); e <= Math.log10(hi); e++) {
    const v = 10 ** e;
    out.push(`<line x1="0" x2="${plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e3e3"/><text x="-6" y="${y(v) + 4}" text-anchor="end" fill="#555">${fmt(v)}</text>`);
  }
  const gw = Math.round((10 * plotW) / conds.length) / 10;
  const bw = Math.min(26, gw / 3);
  conds.forEach(([d, l], ci) => {
    const gx = ci * gw + gw / 2;
    (['ws', 'quic'] as const).forEach((p, k) => {
      const r = find(d, l, p);
      const x = gx - bw + k * bw;
      if (!r) {
        out.push(`<text x="${x + bw / 2}" y="${plotH - 4}" text-anchor="middle" fill="#999">n/a</text>`);
        return;
      }
      const ph = panel.get(r);
      if (ph.p99Ms === null) return;
      out.push(`<rect x="${x + 1}" y="${y(ph.p99Ms)}" width="${bw - 2}" height="${plotH - y(ph.p99Ms)}" fill="${colors[p]}"><title>${p} ${d} ms / ${l} %: p50 ${fmt(ph.p50Ms ?? 0)}, p99 ${fmt(ph.p99Ms)}</title></rect>`);
      if ((ph.missing ?? 0) > 0) out.push(`<rect x="${x + 1}" y="${y(ph.p99Ms)}" width="${bw - 2}" height="${plotH - y(ph.p99Ms)}" fill="url(#hatch)"/>`);
      if (ph.p50Ms !== null) out.push(`<line x1="${x + 1}" x2="${x + bw - 1}" y1="${y(ph.p50Ms)}" y2="${y(ph.p50Ms)}" stroke="#222" stroke-width="2"/>`);
      out.push(`<text x="${x + bw / 2}" y="${y(ph.p99Ms) - 3}" text-anchor="middle" font-size="9" fill="#333">${fmt(ph.p99Ms)}</text>`);
    });
    out.push(`<text x="${gx}" y="${plotH + 14}" text-anchor="middle" fill="#333">${d} ms / ${l} %</text>`);
  });
  out.push(`<line x1="0" x2="${plotW}" y1="${plotH}" y2="${plotH}" stroke="#888"/></g>`);
});
out.push('</svg>');
writeFileSync(values.out!, `${out.join('\n')}\n`);
process.stderr.write(`wrote ${values.out} (${results.length} runs, ${conds.length} conditions)\n`);

// the Markdown table: one row per run, sorted by edges, delay, loss, protocol
const ms = (v: number | null) => (v === null ? '—' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)}`);
const rows = readdirSync(dir).filter((f) => /^hub-impaired-.*\.json$/.test(f)).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Result & Record<string, never>)
  .sort((a, b) => a.edges - b.edges || a.impairment.delayMsEachWay - b.impairment.delayMsEachWay || a.impairment.lossPctEachWay - b.impairment.lossPctEachWay || b.protocol.localeCompare(a.protocol));
const lines = ['| edges | delay each way (ms) | loss each way | protocol | connect all (s) | small update p50 / p99 (ms) | 256 KiB update p50 / p99 (ms) | wire bytes / written, 256 KiB | hub CPU, 256 KiB (s) | resume per edge p50 / p99 (ms) | load avg |', '|---|---|---|---|---|---|---|---|---|---|---|'];
for (const r of rows) {
  const x = r as unknown as { connect: { seconds: number }; fanoutLarge: { wireBytesDown: number; hubBytesSent: number; hubCpuMs: number; missing: number }; fanoutSmall: { missing: number } };
  const miss = (n: number) => (n > 0 ? ` (${n} missed)` : '');
  lines.push(`| ${r.edges} | ${r.impairment.delayMsEachWay} | ${r.impairment.lossPctEachWay} % | ${r.protocol} | ${x.connect.seconds} | ${ms(r.fanoutSmall.p50Ms)} / ${ms(r.fanoutSmall.p99Ms)}${miss(x.fanoutSmall.missing)} | ${ms(r.fanoutLarge.p50Ms)} / ${ms(r.fanoutLarge.p99Ms)}${miss(x.fanoutLarge.missing)} | ${(x.fanoutLarge.wireBytesDown / x.fanoutLarge.hubBytesSent).toFixed(2)} | ${(x.fanoutLarge.hubCpuMs / 1000).toFixed(1)} | ${ms(r.resume.p50Ms)} / ${ms(r.resume.p99Ms)} | ${r.loadavg.start[0]} |`);
}
process.stdout.write(`${lines.join('\n')}\n`);
