ALTER TABLE "sessions" ADD COLUMN "consent_outcome" text;--> statement-breakpoint
ALTER TABLE "site_session_policies" ADD COLUMN "consent_when_nobody" text DEFAULT 'deny' NOT NULL;