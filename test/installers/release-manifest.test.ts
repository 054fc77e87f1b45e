import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nacl from 'tweetnacl';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadReleaseKey, ReleaseVerificationError, verifyManifest, writeReleaseManifest } from '../../installers/release/manifest.ts';

/** Signed release manifests over real files, checked with the real sha256sum and tweetnacl. */
let dir: string;
let keyDir: string;
const quiet = () => {};
const envKey = () => ({ env: { STEWARD_RELEASE_KEY: Buffer.from(nacl.sign.keyPair().secretKey).toString('base64') } });

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-release-'));
  keyDir = fs.mkdtempSync(path.join(os.tmpdir(), 'steward-release-key-'));
  fs.writeFileSync(path.join(dir, 'steward-agent-1.0.0-linux-x64.tar.gz'), Buffer.from('tarball bytes'));
  fs.writeFileSync(path.join(dir, 'steward-agent_1.0.0_amd64.deb'), Buffer.alloc(70_000, 7));
  fs.writeFileSync(path.join(dir, 'steward-agent-1.0.0-x64.msi'), '');
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(keyDir, { recursive: true, force: true });
});

describe('release manifest', () => {
  it('lists every artifact with its size and SHA-256, matching sha256sum', () => {
    const key = loadReleaseKey(envKey());
    const signed = writeReleaseManifest(dir, { key, version: '1.0.0' });
    expect(signed.keySource).toBe('env');
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    expect(manifest.version).toBe('1.0.0');
    expect(manifest.files.map((f: { name: string }) => f.name)).toEqual(['steward-agent-1.0.0-linux-x64.tar.gz', 'steward-agent-1.0.0-x64.msi', 'steward-agent_1.0.0_amd64.deb']);
    for (const f of manifest.files) {
      expect(f.bytes).toBe(fs.statSync(path.join(dir, f.name)).size);
      expect(f.sha256).toBe(execFileSync('sha256sum', [f.name], { cwd: dir, encoding: 'utf8' }).split(' ')[0]);
    }
    expect(execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: dir, encoding: 'utf8' })).toMatch(/deb: OK/);
    expect(fs.readFileSync(path.join(dir, 'release-key.pub'), 'utf8').trim()).toBe(Buffer.from(key.publicKey).toString('base64'));
    // Signing again does not list the metadata files as artifacts.
    writeReleaseManifest(dir, { key, version: '1.0.0' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')).files).toHaveLength(3);
  });

  it('verifies with the public key, as bytes or base64', () => {
    const key = loadReleaseKey(envKey());
    writeReleaseManifest(dir, { key, version: '1.0.0' });
    expect(verifyManifest(dir, key.publicKey).files).toHaveLength(3);
    expect(verifyManifest(dir, fs.readFileSync(path.join(dir, 'release-key.pub'), 'utf8')).version).toBe('1.0.0');
  });

  it('fails when one byte of an artifact changes', () => {
    const key = loadReleaseKey(envKey());
    writeReleaseManifest(dir, { key });
    const deb = path.join(dir, 'steward-agent_1.0.0_amd64.deb');
    const bytes = fs.readFileSync(deb);
    bytes[12_345] ^= 1;
    fs.writeFileSync(deb, bytes);
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(/amd64\.deb does not match its SHA-256/);
  });

  it('fails when an artifact is missing or has another size', () => {
    const key = loadReleaseKey(envKey());
    writeReleaseManifest(dir, { key });
    fs.appendFileSync(path.join(dir, 'steward-agent-1.0.0-x64.msi'), 'x');
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(/is 1 bytes, the manifest says 0/);
    fs.rmSync(path.join(dir, 'steward-agent-1.0.0-x64.msi'));
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(/missing/);
  });

  it('fails when the manifest is changed, even to match a changed artifact', () => {
    const key = loadReleaseKey(envKey());
    writeReleaseManifest(dir, { key });
    const tgz = path.join(dir, 'steward-agent-1.0.0-linux-x64.tar.gz');
    fs.writeFileSync(tgz, 'evil bytes');
    const manifestFile = path.join(dir, 'manifest.json');
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    manifest.files[0].sha256 = execFileSync('sha256sum', [tgz], { encoding: 'utf8' }).split(' ')[0];
    manifest.files[0].bytes = 10;
    fs.writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(ReleaseVerificationError);
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(/signature does not verify/);
  });

  it('fails with a wrong key, a truncated signature or no signature', () => {
    const key = loadReleaseKey(envKey());
    writeReleaseManifest(dir, { key });
    expect(() => verifyManifest(dir, nacl.sign.keyPair().publicKey)).toThrow(/signature does not verify/);
    const sig = path.join(dir, 'manifest.json.sig');
    fs.writeFileSync(sig, Buffer.from(fs.readFileSync(sig, 'utf8'), 'base64').subarray(0, 40).toString('base64'));
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(/signature does not verify/);
    fs.rmSync(sig);
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(/cannot read the signed manifest/);
  });

  it('rejects a signed manifest whose names leave the directory', () => {
    const key = loadReleaseKey(envKey());
    const manifest = Buffer.from(JSON.stringify({ version: '1', files: [{ name: '../etc/passwd', bytes: 1, sha256: 'a'.repeat(64) }] }));
    fs.writeFileSync(path.join(dir, 'manifest.json'), manifest);
    fs.writeFileSync(path.join(dir, 'manifest.json.sig'), Buffer.from(nacl.sign.detached(manifest, key.secretKey)).toString('base64'));
    expect(() => verifyManifest(dir, key.publicKey)).toThrow(/invalid entry/);
  });
});

describe('release key', () => {
  it('refuses a malformed STEWARD_RELEASE_KEY', () => {
    expect(() => loadReleaseKey({ env: { STEWARD_RELEASE_KEY: Buffer.alloc(32).toString('base64') } })).toThrow(/64-byte/);
  });

  it('without STEWARD_RELEASE_KEY makes one development key (0600), reuses it, and warns loudly each time', () => {
    const devKeyFile = path.join(keyDir, 'nested/dev-release-key');
    const warnings: string[] = [];
    const first = loadReleaseKey({ env: {}, devKeyFile, warn: (m) => warnings.push(m) });
    expect(first.source).toBe('development');
    expect(fs.statSync(devKeyFile).mode & 0o777).toBe(0o600);
    const second = loadReleaseKey({ env: {}, devKeyFile, warn: (m) => warnings.push(m) });
    expect(Buffer.from(second.publicKey).equals(Buffer.from(first.publicKey))).toBe(true);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/NOT a release key/);

    const signed = writeReleaseManifest(dir, { env: {}, devKeyFile, warn: quiet });
    expect(signed.keySource).toBe('development');
    expect(verifyManifest(dir, first.publicKey).files).toHaveLength(3);
  });
});
