import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ClientCloseCode, CloseCode } from '../src/protocol.js';

const SDK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PROTOCOL = path.join(SDK, 'src', 'protocol.ts');

describe('protocol.ts', () => {
  it('imports nothing, so the service and the SDK can both compile it as it is', () => {
    const source = ts.createSourceFile(PROTOCOL, readFileSync(PROTOCOL, 'utf8'), ts.ScriptTarget.ES2022);
    const imports = source.statements.filter(
      (s) => ts.isImportDeclaration(s) || ts.isImportEqualsDeclaration(s) || (ts.isExportDeclaration(s) && s.moduleSpecifier !== undefined),
    );
    expect(imports.map((s) => s.getText(source))).toEqual([]);
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
