import fs from 'node:fs';
import path from 'node:path';
import nacl from 'tweetnacl';
import { STEWARD_VERSION } from '../../protocol/version.ts';
import { CACHE_DIR } from '../build/paths.ts';
import { CHECKSUMS_FILE, MANIFEST_FILE, PUBLIC_KEY_FILE, RELEASE_METADATA_FILES, sha256File, SIGNATURE_FILE, type ReleaseManifest } from './verify.ts';

export { ReleaseVerificationError, verifyManifest, type ManifestFile, type ReleaseManifest } from './verify.ts';

/**
 * Signs a directory of release artifacts: SHA256SUMS, manifest.json, its detached Ed25519 signature and the
 * public key, so an agent can later verify an update against the key it shipped with. The key is the release key
 * from $STEWARD_RELEASE_KEY (base64 of tweetnacl's 64-byte secret key) or, on a developer's machine, a
 * development key kept in installers/.cache — announced loudly, because nothing signed with it should ship.
 */
export const DEV_RELEASE_KEY_FILE = path.join(CACHE_DIR, 'dev-release-key');

export interface ReleaseKey {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
  /** 'env' for the real release key, 'development' for the generated one. */
  source: 'env' | 'development';
}

export interface ReleaseKeyOptions {
  env?: NodeJS.ProcessEnv;
  devKeyFile?: string;
  warn?: (message: string) => void;
}

const defaultWarn = (message: string) => process.stderr.write(message);

export function loadReleaseKey(opts: ReleaseKeyOptions = {}): ReleaseKey {
  const env = opts.env ?? process.env;
  const fromEnv = env.STEWARD_RELEASE_KEY?.trim();
  if (fromEnv) {
    const secretKey = Buffer.from(fromEnv, 'base64');
    if (secretKey.length !== nacl.sign.secretKeyLength) throw new Error(`STEWARD_RELEASE_KEY must be base64 of a ${nacl.sign.secretKeyLength}-byte Ed25519 secret key (got ${secretKey.length} bytes)`);
    return { secretKey, publicKey: nacl.sign.keyPair.fromSecretKey(secretKey).publicKey, source: 'env' };
  }
  const file = opts.devKeyFile ?? DEV_RELEASE_KEY_FILE;
  let secretKey: Uint8Array;
  if (fs.existsSync(file)) {
    secretKey = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
    if (secretKey.length !== nacl.sign.secretKeyLength) throw new Error(`${file} is not a development release key; delete it to make a new one`);
  } else {
    secretKey = nacl.sign.keyPair().secretKey;
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `${Buffer.from(secretKey).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  }
  fs.chmodSync(file, 0o600);
  (opts.warn ?? defaultWarn)(
    [
      '',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '!! STEWARD_RELEASE_KEY is not set: signing with a DEVELOPMENT key',
      `!! (${file}). This is NOT a release key: agents in the field will`,
      '!! reject these artifacts as updates. Do not publish them.',
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!',
      '',
      '',
    ].join('\n'),
  );
  return { secretKey, publicKey: nacl.sign.keyPair.fromSecretKey(secretKey).publicKey, source: 'development' };
}

export interface WriteManifestOptions extends ReleaseKeyOptions {
  version?: string;
  /** A key already loaded (tests, or a caller signing several directories); otherwise loadReleaseKey(). */
  key?: ReleaseKey;
}

export interface SignedRelease {
  manifest: ReleaseManifest;
  keySource: ReleaseKey['source'];
  publicKey: string;
}

/** Lists the regular files of `dir` (not recursing; the release's own metadata excluded), sorted by name. */
function artifactNames(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !RELEASE_METADATA_FILES.includes(e.name))
    .map((e) => e.name)
    .sort();
}

export function writeReleaseManifest(dir: string, opts: WriteManifestOptions = {}): SignedRelease {
  const key = opts.key ?? loadReleaseKey(opts);
  const files = artifactNames(dir).map((name) => {
    const file = path.join(dir, name);
    return { name, bytes: fs.statSync(file).size, sha256: sha256File(file) };
  });
  if (files.length === 0) throw new Error(`no artifacts to sign in ${dir}`);
  const manifest: ReleaseManifest = { version: opts.version ?? STEWARD_VERSION, files };
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const signature = nacl.sign.detached(manifestBytes, key.secretKey);
  const publicKey = Buffer.from(key.publicKey).toString('base64');
  // Two spaces: sha256sum's text-mode line, which `sha256sum -c` reads back.
  fs.writeFileSync(path.join(dir, CHECKSUMS_FILE), files.map((f) => `${f.sha256}  ${f.name}\n`).join(''));
  fs.writeFileSync(path.join(dir, MANIFEST_FILE), manifestBytes);
  fs.writeFileSync(path.join(dir, SIGNATURE_FILE), `${Buffer.from(signature).toString('base64')}\n`);
  fs.writeFileSync(path.join(dir, PUBLIC_KEY_FILE), `${publicKey}\n`);
  return { manifest, keySource: key.source, publicKey };
}
