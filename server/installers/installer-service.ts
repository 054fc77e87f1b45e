import { STEWARD_VERSION } from '../../protocol/version.ts';
import type { Actor } from '../access/actor.ts';
import { auditOf } from '../audit/audit-event.ts';
import type { AppContext } from '../context.ts';
import { issueEnrollmentToken, siteFor } from '../enrollment/enrollment-service.ts';
import { agentServerUrl, type RequestOrigin } from './agent-server-url.ts';
import type { InstallerDownload } from './installer-artifact.ts';
import { prepareInstaller, type InstallerOs } from './installer-catalog.ts';

export interface InstallerOptions {
  expiresInHours: number;
  maxUses: number;
}

/**
 * An installer for one site with its enrollment settings inside: the server's URL and a fresh enrollment token,
 * minted for this download. Authorized like creating a token (`machines.manage` on the site); the artifact is
 * opened before the token exists, so a missing build (503) mints nothing; the token and the download are audited
 * in one transaction.
 */
export async function downloadInstaller(
  ctx: AppContext,
  actor: Actor,
  siteId: string,
  os: InstallerOs,
  options: InstallerOptions,
  origin: RequestOrigin,
): Promise<InstallerDownload> {
  const site = await siteFor(ctx, actor, siteId);
  const serverUrl = agentServerUrl(ctx.config, origin);
  const prepared = await prepareInstaller(ctx.config.installersDir, os);
  try {
    const token = await ctx.db.transaction(async (tx) => {
      const issued = await issueEnrollmentToken(ctx, tx, actor, site.id, options);
      await ctx.audit.record(
        tx,
        auditOf(actor, 'installer.download', 'site', site.id, {
          os,
          enrollmentTokenId: issued.id,
          artifact: prepared.artifact.name,
          file: prepared.fileName,
          version: STEWARD_VERSION,
          serverUrl,
          maxUses: issued.maxUses,
          expiresAt: issued.expiresAt,
        }),
      );
      return issued;
    });
    return prepared.render({ serverUrl, token: token.token, expiresAt: token.expiresAt, maxUses: token.maxUses });
  } catch (error) {
    await prepared.artifact.handle.close();
    throw error;
  }
}
