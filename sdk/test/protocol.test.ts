import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ClientCloseCode, CloseCode } from '../src/protocol.js';

const SDK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROTOCOL = path.join(SDK, 'src', 'protocol.ts');
const PROTOCOL_DIR = path.join(SDK, 'src', 'protocol');

/** What each import and re-export of `file` names: its module specifier, or the statement when it has none to read. */
function importsOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022);
  return source.statements.flatMap((s) => {
    if (ts.isImportDeclaration(s) || ts.isExportDeclaration(s)) {
      if (s.moduleSpecifier === undefined) return [];
      return [ts.isStringLiteral(s.moduleSpecifier) ? s.moduleSpecifier.text : s.getText(source)];
    }
    return ts.isImportEqualsDeclaration(s) ? [s.getText(source)] : [];
  });
}

describe('protocol.ts and protocol/', () => {
  it('import nothing but each other, so the service and the SDK can both compile them as they are', () => {
    const files = [PROTOCOL, ...readdirSync(PROTOCOL_DIR).map((name) => path.join(PROTOCOL_DIR, name))];
    const inside = (file: string, specifier: string) => specifier.startsWith('.') && path.resolve(path.dirname(file), specifier).startsWith(PROTOCOL_DIR + path.sep);
    const outside = files.flatMap((file) => importsOf(file).filter((specifier) => !inside(file, specifier)).map((specifier) => `${path.relative(SDK, file)}: ${specifier}`));
    expect(files.length).toBeGreaterThan(1);
    expect(outside).toEqual([]);
  });

  it('type-checks with only the ES2022 library: no DOM, Node or Workers types', () => {
    const program = ts.createProgram([PROTOCOL], {
      lib: ['lib.es2022.d.ts'],
      types: [],
      strict: true,
      noUnusedLocals: true,
      noUncheckedIndexedAccess: true,
      isolatedModules: true,
      noEmit: true,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
    });
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
  });

  it('has the close codes of the README table, and no others', () => {
    const readme = readFileSync(path.join(SDK, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Close codes'), readme.indexOf('## Sharding'));
    const documented = [...section.matchAll(/^\| `(\d{4})` \|/gm)].map((m) => Number(m[1])).sort();
    const defined = [...Object.values(CloseCode), ClientCloseCode.NORMAL].sort();
    expect(documented.length).toBeGreaterThan(0);
    expect(defined).toEqual(documented);
  });
});
