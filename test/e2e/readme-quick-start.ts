import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT } from '../support/launcher';

/** A command of the README's quick start, and what the test does with it. */
export interface QuickStartCommand {
  /** The command line as written (continuation lines joined), comments and all: `sh` runs it. */
  line: string;
  /** `install`: `npm ci`, done already by whoever runs the tests; `server`: `npm run dev`; `run`: run with `sh -c`. */
  kind: 'install' | 'server' | 'run';
}

/** The `sh` code blocks of the README section whose heading starts with `## Quick start`, one entry per command. */
export function quickStartCommands(readme: string): QuickStartCommand[] {
  const section = /^## Quick start[^\n]*\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  if (section === undefined) throw new Error('README.md has no "## Quick start" section');
  const commands: QuickStartCommand[] = [];
  for (const block of section.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
    const lines = block[1]!.replace(/\\\n\s*/g, ' ').split('\n');
    for (const line of lines) {
      const bare = line.replace(/\s+#.*$/, '').trim();
      if (bare === '' || bare.startsWith('#')) continue;
      const kind = bare === 'npm ci' ? 'install' : bare === 'npm run dev' ? 'server' : 'run';
      commands.push({ line: line.trim(), kind });
    }
  }
  return commands;
}

/**
 * A copy of the working tree (tracked and untracked files, minus what .gitignore names: no .dev.vars, no local state)
 * in a temporary directory, with node_modules linked from the repository: a fresh clone after `npm ci`.
 */
export function freshClone(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mws-clone-'));
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  for (const file of files.split('\0')) {
    if (file === '' || !existsSync(join(ROOT, file))) continue; // deleted in the working tree
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(ROOT, file), join(dir, file));
  }
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

export const readReadme = (): string => readFileSync(join(ROOT, 'README.md'), 'utf8');
