import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../server/config.ts';

describe('loadConfig', () => {
  it('defaults to 127.0.0.1:8080 with the embedded database in ./data', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '127.0.0.1', port: 8080, databaseUrl: null, tls: null, heartbeatSeconds: 30 });
    expect(config.dataDir).toBe(`${process.cwd()}/data`);
  });

  it('reads HOST, PORT, STEWARD_DATA_DIR, DATABASE_URL and TLS files', () => {
    const config = loadConfig({
      HOST: '0.0.0.0',
      PORT: '9443',
      STEWARD_DATA_DIR: '/var/lib/steward',
      DATABASE_URL: 'postgres://u@db/steward',
      STEWARD_TLS_CERT: '/c.pem',
      STEWARD_TLS_KEY: '/k.pem',
    });
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 9443,
      dataDir: '/var/lib/steward',
      databaseUrl: 'postgres://u@db/steward',
      tls: { certFile: '/c.pem', keyFile: '/k.pem' },
    });
  });

  it('reads the mail, public URL and proxy settings', () => {
    const config = loadConfig({ HOST: '0.0.0.0', PORT: '9000', STEWARD_SMTP_URL: 'smtps://u:p@mail.example.com', STEWARD_TRUST_PROXY: 'loopback, 10.0.0.0/8' });
    expect(config).toMatchObject({ publicUrl: 'http://0.0.0.0:9000', smtpUrl: 'smtps://u:p@mail.example.com', trustProxy: ['loopback', '10.0.0.0/8'] });
    expect(loadConfig({ STEWARD_PUBLIC_URL: 'https://steward.example.com/' }).publicUrl).toBe('https://steward.example.com');
    expect(loadConfig({}).trustProxy).toBeNull();
  });

  it.each([
    [{ PORT: '80x' }, "PORT must be a whole number, got '80x'"],
    [{ PORT: '70000' }, 'PORT must be between 0 and 65535, got 70000'],
    [{ STEWARD_TLS_CERT: '/c.pem' }, 'STEWARD_TLS_CERT and STEWARD_TLS_KEY must be set together'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL must start with postgres:// or postgresql://'],
    [{ STEWARD_MASTER_KEY: 'c2hvcnQ=' }, 'STEWARD_MASTER_KEY must be 32 bytes'],
    [{ STEWARD_HEARTBEAT_SECONDS: '0' }, 'STEWARD_HEARTBEAT_SECONDS must be between 1 and 3600, got 0'],
    [{ STEWARD_LOG_LEVEL: 'loud' }, 'STEWARD_LOG_LEVEL must be one of'],
    [{ STEWARD_PUBLIC_URL: 'ftp://x' }, 'STEWARD_PUBLIC_URL must be an http:// or https:// URL'],
    [{ STEWARD_SMTP_URL: 'http://mail' }, 'STEWARD_SMTP_URL must start with smtp:// or smtps://'],
    [{ STEWARD_TRUST_PROXY: '10.0.0.0/8, everyone' }, "STEWARD_TRUST_PROXY must list proxy addresses or CIDRs (or loopback), got 'everyone'"],
  ])('rejects %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });
});
