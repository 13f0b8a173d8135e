/**
 * "Nothing ever builds a shell command from input" (issue "Chaos and
 * hostile-input suite", deliverable 3), checked on the source with the
 * TypeScript parser rather than asserted in prose. For every file of ours:
 *
 * - `exec` / `execSync` from child_process are never imported (they always
 *   run a shell);
 * - no spawn/execFile/fork call passes a `shell` option other than `false`;
 * - where a shell is started explicitly (`sh -c SCRIPT …`), SCRIPT is a
 *   constant: a string literal or a module-level `const` initialised with a
 *   literal that has no `${…}` substitutions. Data reaches such a script only
 *   as positional parameters ("$1"), never as script text.
 *
 * A new legitimate use that trips this test should pass input as argv, not
 * change the test.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const skipDirs = new Set(['node_modules', '.git', '.outpost', 'coverage', 'control-plane', 'dist']);

function sourceFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (skipDirs.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) sourceFiles(p, out);
    else if (/\.(ts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const SPAWNERS = new Set(['spawn', 'spawnSync', 'execFile', 'execFileSync', 'fork']);
const SHELLS = /^(\/usr)?(\/bin\/)?(sh|bash|dash|zsh|ash)$/;

export interface Finding {
  file: string;
  line: number;
  problem: string;
}

/** Scans one file; exported for the test of the scanner itself. */
export function scan(file: string, text: string): Finding[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const findings: Finding[] = [];
  const at = (n: ts.Node, problem: string) => findings.push({ file, line: sf.getLineAndCharacterOfPosition(n.getStart()).line + 1, problem });
  const imported = new Map<string, string>(); // local name → child_process export
  const constants = new Map<string, ts.Expression>();
  for (const st of sf.statements) {
    if (ts.isImportDeclaration(st) && ts.isStringLiteral(st.moduleSpecifier) && /^(node:)?child_process$/.test(st.moduleSpecifier.text)) {
      const b = st.importClause?.namedBindings;
      if (b && ts.isNamedImports(b)) for (const el of b.elements) imported.set(el.name.text, (el.propertyName ?? el.name).text);
      if (b && ts.isNamespaceImport(b)) imported.set(b.name.text, '*');
    }
    if (ts.isVariableStatement(st) && (st.declarationList.flags & ts.NodeFlags.Const)) {
      for (const d of st.declarationList.declarations) if (ts.isIdentifier(d.name) && d.initializer) constants.set(d.name.text, d.initializer);
    }
  }
  for (const [local, name] of imported) if (name === 'exec' || name === 'execSync') at(sf, `imports ${name} from child_process as ${local}: it always runs a shell; use execFile/spawn with an argv array`);
  const isLiteral = (e: ts.Expression | undefined): boolean => !!e && (ts.isStringLiteral(e) || ts.isNoSubstitutionTemplateLiteral(e));
  // a literal, a conditional choosing between literals, or a const (module-level or local) bound to one of those
  const literalChoice = (e: ts.Expression | undefined): boolean => !!e && (isLiteral(e) || (ts.isConditionalExpression(e) && literalChoice(e.whenTrue) && literalChoice(e.whenFalse)) || (ts.isParenthesizedExpression(e) && literalChoice(e.expression)));
  const constantScript = (e: ts.Expression): boolean => literalChoice(e) || (ts.isIdentifier(e) && literalChoice(constants.get(e.text)));
  const collectConsts = (n: ts.Node): void => {
    if (ts.isVariableDeclarationList(n) && (n.flags & ts.NodeFlags.Const)) {
      for (const d of n.declarations) if (ts.isIdentifier(d.name) && d.initializer && !constants.has(d.name.text)) constants.set(d.name.text, d.initializer);
    }
    ts.forEachChild(n, collectConsts);
  };
  collectConsts(sf);
  const visit = (n: ts.Node): void => {
    if (ts.isCallExpression(n)) {
      const callee = n.expression;
      const name = ts.isIdentifier(callee) ? imported.get(callee.text)
        : ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && imported.get(callee.expression.text) === '*' ? callee.name.text : undefined;
      if (name === 'exec' || name === 'execSync') at(n, `calls child_process.${name}, which runs a shell`);
      if (name && SPAWNERS.has(name)) {
        for (const a of n.arguments) {
          if (!ts.isObjectLiteralExpression(a)) continue;
          for (const p of a.properties) {
            if (p.name && ts.isIdentifier(p.name) && p.name.text === 'shell' && !(ts.isPropertyAssignment(p) && p.initializer.kind === ts.SyntaxKind.FalseKeyword)) at(p, `${name}(…, { shell }) runs a shell`);
          }
        }
      }
    }
    // `[…, '/bin/sh', '-c', SCRIPT, …]` anywhere (argv arrays are often built before the call)
    if (ts.isArrayLiteralExpression(n)) {
      const els = n.elements;
      for (let i = 0; i < els.length; i++) {
        const e = els[i]!;
        if (!(ts.isStringLiteral(e) && e.text === '-c')) continue;
        const prev = els[i - 1];
        const script = els[i + 1];
        const parent = n.parent;
        // a Pod's `command`/`args` is the workload's own argv (run as Kubernetes runs it), not a host shell we build
        if (ts.isPropertyAssignment(parent) && ts.isIdentifier(parent.name) && ['command', 'args'].includes(parent.name.text)) continue;
        const isShell = (x: ts.Node | undefined) => !!x && ts.isStringLiteral(x) && SHELLS.test(x.text);
        const shellBefore = prev ? isShell(prev) : ts.isCallExpression(parent) && parent.arguments[1] === n && isShell(parent.arguments[0]);
        if (shellBefore && script && !constantScript(script as ts.Expression)) at(script, `a shell script (-c) built at run time: ${script.getText(sf).slice(0, 60)}; pass data as positional parameters of a constant script`);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return findings;
}

describe('no shell commands built from input', () => {
  const files = sourceFiles(root);

  it('the scanner catches each way of doing it', () => {
    const bad = `
      import { exec, spawn as run, execFile } from 'node:child_process';
      import * as cp from 'child_process';
      const userInput = process.argv[2];
      exec('ls ' + userInput);
      cp.execSync(userInput);
      run('ls', [userInput], { shell: true });
      execFile('/bin/sh', ['-c', \`echo \${userInput}\`]);
      const script = 'echo ' + userInput;
      run('sh', ['-c', script]);
      const picked = process.env.X ? 'true' : userInput;
      run('sh', ['-c', picked]);
    `;
    const problems = scan('bad.ts', bad).map((f) => f.problem);
    expect(problems).toEqual([
      expect.stringContaining('imports exec'),
      expect.stringContaining('calls child_process.exec'),
      expect.stringContaining('calls child_process.execSync'),
      expect.stringContaining('{ shell }'),
      expect.stringContaining('built at run time'),
      expect.stringContaining('built at run time'),
      expect.stringContaining('built at run time'),
    ]);
    const good = `
      import { spawn } from 'node:child_process';
      const wrapper = 'exec "$@"';
      spawn('/bin/sh', ['-c', wrapper, 'name', ...process.argv.slice(2)], { shell: false });
      spawn('/bin/sh', ['-c', 'exec "$0" "$@"', 'x']);
      spawn('mosquitto', ['-c', process.argv[2]]);
      const pod = { command: ['sh', '-c', process.argv[2]] };
      const script = process.env.CRI ? 'head -n1 | tr a-z A-Z' : 'tr a-z A-Z';
      spawn('kubectl', ['exec', 'app', '--', 'sh', '-c', script]);
    `;
    expect(scan('good.ts', good)).toEqual([]);
  });

  it(`no file of ours runs a shell with run-time text (${files.length} files)`, () => {
    expect(files.length).toBeGreaterThan(100);
    const findings = files.flatMap((f) => scan(relative(root, f), readFileSync(f, 'utf8')));
    expect(findings.map((f) => `${f.file}:${f.line}: ${f.problem}`)).toEqual([]);
  });
});
