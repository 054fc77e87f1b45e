/*
 * `npm run package [-- --target linux-x64,win-x64]`: builds the agent as a single executable per target under
 * dist/agent/<target>/ (executable plus node_modules/node-pty), and from linux-x64 the .deb and .tar.gz under
 * dist/installers/. Needs only the npm registry (pinned Node binaries,
 * cached in installers/.cache) and, for Windows, osslsigncode.
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildDeb } from '../linux/deb.ts';
import { buildTarball } from '../linux/tarball.ts';
import { buildMacTarball } from '../macos/tarball.ts';
import { writeReleaseManifest } from '../release/manifest.ts';
import { buildMsi } from '../windows/msi.ts';
import { packageAgent } from './package-agent.ts';
import { DIST_AGENT_DIR, DIST_INSTALLERS_DIR, REPO_ROOT } from './paths.ts';
import { ALL_TARGET_IDS, NODE_VERSION, parseTargetList } from './targets.ts';

const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { target: { type: 'string' } } });
  const targets = values.target ? parseTargetList(values.target) : ALL_TARGET_IDS;
  process.stdout.write(`packaging steward-agent on Node ${NODE_VERSION} for ${targets.join(', ')}\n`);
  const started = performance.now();
  await packageAgent(targets, DIST_AGENT_DIR, (b) =>
    process.stdout.write(`  ${b.target.padEnd(13)} ${megabytes(b.bytes).padStart(9)} executable, ${megabytes(b.directoryBytes).padStart(9)} with node-pty  ${(b.milliseconds / 1000).toFixed(1)} s  ${path.relative(REPO_ROOT, b.executable)}\n`),
  );
  if (targets.includes('linux-x64')) {
    // The Linux packages wrap the linux-x64 executable: a .deb (systemd unit, maintainer scripts) and a .tar.gz.
    for (const build of [buildDeb, buildTarball]) {
      const built = build({ artifactDir: path.join(DIST_AGENT_DIR, 'linux-x64'), outDir: DIST_INSTALLERS_DIR });
      process.stdout.write(`  ${path.relative(REPO_ROOT, built.file)}  ${megabytes(built.bytes)}  ${(built.buildMs / 1000).toFixed(1)} s\n`);
    }
  }
  for (const arch of ['x64', 'arm64'] as const) {
    if (!targets.includes(`darwin-${arch}`)) continue;
    const built = buildMacTarball({ artifactDir: path.join(DIST_AGENT_DIR, `darwin-${arch}`), outDir: DIST_INSTALLERS_DIR, arch });
    process.stdout.write(`  ${path.relative(REPO_ROOT, built.file)}  ${megabytes(built.bytes)}  ${(built.buildMs / 1000).toFixed(1)} s\n`);
  }
  if (targets.includes('win-x64')) {
    const built = await buildMsi({ artifactDir: path.join(DIST_AGENT_DIR, 'win-x64'), outDir: DIST_INSTALLERS_DIR });
    process.stdout.write(`  ${path.relative(REPO_ROOT, built.file)}  ${megabytes(built.bytes)}  ${(built.buildMs / 1000).toFixed(1)} s\n`);
  }
  // Last: the signed manifest covers every installer written above.
  const release = writeReleaseManifest(DIST_INSTALLERS_DIR);
  process.stdout.write(`  signed ${release.manifest.files.length} artifacts (${release.keySource} key ${release.publicKey})\n`);
  process.stdout.write(`done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
}

main().catch((error: Error) => {
  process.stderr.write(`package: ${error.message}\n`);
  process.exit(1);
});
