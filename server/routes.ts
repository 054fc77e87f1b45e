import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { assignmentRoutes } from './assignments/assignment-routes.ts';
import { auditRoutes } from './audit/audit-routes.ts';
import { apiTokenRoutes } from './auth/api-token-routes.ts';
import { authRoutes } from './auth/auth-routes.ts';
import { mfaRoutes } from './auth/mfa-routes.ts';
import { passwordResetRoutes } from './auth/password-reset-routes.ts';
import type { AppContext } from './context.ts';
import { credentialPolicyRoutes } from './credentials/credential-policy-routes.ts';
import { credentialRoutes } from './credentials/credential-routes.ts';
import { enrollmentRoutes } from './enrollment/enrollment-routes.ts';
import { healthRoutes } from './health/health-routes.ts';
import { installerRoutes } from './installers/installer-routes.ts';
import { machineRoutes } from './machines/machine-routes.ts';
import { meRoutes } from './me/me-routes.ts';
import { recordingRoutes } from './recordings/recording-routes.ts';
import { replicaRoutes } from './replicas/replica-routes.ts';
import { reportRoutes } from './reports/report-routes.ts';
import { roleRoutes } from './roles/role-routes.ts';
import { fileTransferRoutes } from './sessions/file-transfer-routes.ts';
import { sessionPolicyRoutes } from './sessions/session-policy-routes.ts';
import { sessionRoutes } from './sessions/session-routes.ts';
import { setupRoutes } from './setup/setup-routes.ts';
import { tenancyRoutes } from './tenancy/tenancy-routes.ts';
import { userAccessRoutes } from './users/user-access-routes.ts';
import { userRoutes } from './users/user-routes.ts';

/** Every REST route module, one per domain. Each route is thin: schema, then one call into its service. */
export const ROUTES: ReadonlyArray<(ctx: AppContext) => FastifyPluginAsyncTypebox> = [
  healthRoutes,
  setupRoutes,
  authRoutes,
  passwordResetRoutes,
  mfaRoutes,
  apiTokenRoutes,
  meRoutes,
  userRoutes,
  userAccessRoutes,
  roleRoutes,
  tenancyRoutes,
  enrollmentRoutes,
  installerRoutes,
  machineRoutes,
  assignmentRoutes,
  sessionRoutes,
  sessionPolicyRoutes,
  credentialPolicyRoutes,
  credentialRoutes,
  replicaRoutes,
  fileTransferRoutes,
  recordingRoutes,
  reportRoutes,
  auditRoutes,
];
