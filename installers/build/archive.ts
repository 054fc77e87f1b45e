import { execFileSync } from 'node:child_process';

/** Packs `dir/base` as `file` (.tar.gz) with GNU tar: root-owned entries and a stable order, whoever builds it. */
export function writeTarGz(dir: string, base: string, file: string): void {
  execFileSync('tar', ['--owner=0', '--group=0', '--numeric-owner', '--sort=name', '-czf', file, '-C', dir, base], { stdio: ['ignore', 'ignore', 'inherit'] });
}
