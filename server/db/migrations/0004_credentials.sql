CREATE TABLE "credential_accounts" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"machine_id" uuid NOT NULL,
	"purpose" text NOT NULL,
	"scope" text NOT NULL,
	"username" text NOT NULL,
	"status" text NOT NULL,
	"reasons" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"covered_by" uuid,
	"domain" text,
	"last_rotated_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credential_jobs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"machine_id" uuid NOT NULL,
	"reason" text NOT NULL,
	"state" text DEFAULT 'queued' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"due_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deadline_at" timestamp with time zone NOT NULL,
	"lease_until" timestamp with time zone,
	"lease_connection" uuid,
	"requested_by" uuid,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "credential_policies" (
	"site_id" uuid PRIMARY KEY NOT NULL,
	"server_enabled" boolean DEFAULT false NOT NULL,
	"server_username" text DEFAULT 'NOC_HelpDesk' NOT NULL,
	"noc_access_level" integer DEFAULT 0 NOT NULL,
	"service_level" text DEFAULT 'standard' NOT NULL,
	"desktop_enabled" boolean DEFAULT false NOT NULL,
	"password_mode" text DEFAULT 'characters' NOT NULL,
	"password_length" integer DEFAULT 20 NOT NULL,
	"password_classes" jsonb DEFAULT '["lower","upper","digit","symbol"]'::jsonb NOT NULL,
	"passphrase_words" integer DEFAULT 6 NOT NULL,
	"max_age_days" integer DEFAULT 30 NOT NULL,
	"rotate_after_use_minutes" integer DEFAULT 60 NOT NULL,
	"history_depth" integer DEFAULT 5 NOT NULL,
	"rotate_on_access_revoked" boolean DEFAULT true NOT NULL,
	"setup_by" uuid,
	"setup_started_at" timestamp with time zone,
	"setup_completed_at" timestamp with time zone,
	"updated_by" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credential_reveals" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"version_id" uuid NOT NULL,
	"user_id" uuid,
	"reason" text NOT NULL,
	"revealed_at" timestamp with time zone DEFAULT now() NOT NULL,
	"rotation_job_id" uuid
);
--> statement-breakpoint
CREATE TABLE "credential_settings" (
	"id" integer PRIMARY KEY DEFAULT 1 NOT NULL,
	"eligible_service_levels" jsonb DEFAULT '["elite"]'::jsonb NOT NULL,
	"desktop_enabled_for_future_sites" boolean DEFAULT false NOT NULL,
	"updated_by" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credential_versions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"account_id" uuid NOT NULL,
	"job_id" uuid NOT NULL,
	"sealed" "bytea" NOT NULL,
	"state" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"applied_at" timestamp with time zone,
	"retired_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "credential_accounts" ADD CONSTRAINT "credential_accounts_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_jobs" ADD CONSTRAINT "credential_jobs_account_id_credential_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."credential_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_jobs" ADD CONSTRAINT "credential_jobs_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_jobs" ADD CONSTRAINT "credential_jobs_requested_by_users_id_fk" FOREIGN KEY ("requested_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_policies" ADD CONSTRAINT "credential_policies_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_policies" ADD CONSTRAINT "credential_policies_setup_by_users_id_fk" FOREIGN KEY ("setup_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_policies" ADD CONSTRAINT "credential_policies_updated_by_users_id_fk" FOREIGN KEY ("updated_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_reveals" ADD CONSTRAINT "credential_reveals_account_id_credential_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."credential_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_reveals" ADD CONSTRAINT "credential_reveals_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_settings" ADD CONSTRAINT "credential_settings_updated_by_users_id_fk" FOREIGN KEY ("updated_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credential_versions" ADD CONSTRAINT "credential_versions_account_id_credential_accounts_id_fk" FOREIGN KEY ("account_id") REFERENCES "public"."credential_accounts"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "credential_accounts_machine_purpose_key" ON "credential_accounts" USING btree ("machine_id","purpose");--> statement-breakpoint
CREATE INDEX "credential_accounts_covered_idx" ON "credential_accounts" USING btree ("covered_by");--> statement-breakpoint
CREATE INDEX "credential_jobs_due_idx" ON "credential_jobs" USING btree ("state","due_at");--> statement-breakpoint
CREATE INDEX "credential_jobs_account_idx" ON "credential_jobs" USING btree ("account_id","state");--> statement-breakpoint
CREATE INDEX "credential_reveals_account_idx" ON "credential_reveals" USING btree ("account_id","revealed_at");--> statement-breakpoint
CREATE INDEX "credential_reveals_user_idx" ON "credential_reveals" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "credential_versions_account_idx" ON "credential_versions" USING btree ("account_id","created_at");--> statement-breakpoint
CREATE INDEX "credential_versions_job_idx" ON "credential_versions" USING btree ("job_id");