CREATE TABLE "recording_chunks" (
	"recording_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "recording_chunks_recording_id_seq_pk" PRIMARY KEY("recording_id","seq")
);
--> statement-breakpoint
CREATE TABLE "recordings" (
	"id" uuid PRIMARY KEY NOT NULL,
	"machine_id" uuid NOT NULL,
	"hostname" text,
	"site_id" uuid NOT NULL,
	"client_id" uuid NOT NULL,
	"user_id" uuid,
	"user_name" text,
	"started_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"cols" integer NOT NULL,
	"rows" integer NOT NULL,
	"input_recorded" boolean DEFAULT false NOT NULL,
	"bytes" bigint DEFAULT 0 NOT NULL,
	"stored_bytes" bigint DEFAULT 0 NOT NULL,
	"chunks" integer DEFAULT 0 NOT NULL,
	"participants" jsonb DEFAULT '[]'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "session_participants" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"session_id" uuid NOT NULL,
	"user_id" uuid,
	"role" text NOT NULL,
	"joined_at" timestamp with time zone DEFAULT now() NOT NULL,
	"left_at" timestamp with time zone,
	"left_reason" text,
	"address" text,
	"dropped_inputs" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"machine_id" uuid NOT NULL,
	"user_id" uuid,
	"owner_token_id" uuid,
	"kind" text DEFAULT 'terminal' NOT NULL,
	"status" text NOT NULL,
	"run_as" text DEFAULT 'agent' NOT NULL,
	"files" boolean DEFAULT false NOT NULL,
	"cols" integer NOT NULL,
	"rows" integer NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"ended_at" timestamp with time zone,
	"end_reason" text,
	"exit_code" integer,
	"ends_at" timestamp with time zone,
	"decided_by" uuid,
	"decided_at" timestamp with time zone,
	"decision_reason" text,
	"end_requested_at" timestamp with time zone,
	"relay_heartbeat_at" timestamp with time zone,
	"requested_from" text
);
--> statement-breakpoint
CREATE TABLE "site_session_policies" (
	"site_id" uuid PRIMARY KEY NOT NULL,
	"desktop_consent" text DEFAULT 'none' NOT NULL,
	"server_approval" boolean DEFAULT false NOT NULL,
	"approval_max_minutes" integer DEFAULT 60 NOT NULL,
	"run_as" text DEFAULT 'agent' NOT NULL,
	"record_input" boolean DEFAULT false NOT NULL,
	"updated_by" uuid,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "recording_chunks" ADD CONSTRAINT "recording_chunks_recording_id_recordings_id_fk" FOREIGN KEY ("recording_id") REFERENCES "public"."recordings"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "session_participants" ADD CONSTRAINT "session_participants_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "session_participants" ADD CONSTRAINT "session_participants_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_decided_by_users_id_fk" FOREIGN KEY ("decided_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "site_session_policies" ADD CONSTRAINT "site_session_policies_site_id_sites_id_fk" FOREIGN KEY ("site_id") REFERENCES "public"."sites"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "site_session_policies" ADD CONSTRAINT "site_session_policies_updated_by_users_id_fk" FOREIGN KEY ("updated_by") REFERENCES "public"."users"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "recordings_machine_idx" ON "recordings" USING btree ("machine_id","started_at");--> statement-breakpoint
CREATE INDEX "recordings_user_idx" ON "recordings" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "session_participants_session_idx" ON "session_participants" USING btree ("session_id");--> statement-breakpoint
CREATE INDEX "sessions_machine_idx" ON "sessions" USING btree ("machine_id","requested_at");--> statement-breakpoint
CREATE INDEX "sessions_user_idx" ON "sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "sessions_status_idx" ON "sessions" USING btree ("status");--> statement-breakpoint
-- Access changes, whichever code path or replica makes them, notify every replica on commit, which then
-- re-authorizes the participants of the live sessions it relays (server/sessions/live-sessions.ts).
CREATE FUNCTION steward_notify_access_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('steward_access', TG_TABLE_NAME);
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER users_access_change AFTER UPDATE OF role, allow_remote_control, disabled_at, client_id, mfa_enabled_at OR DELETE ON users FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER roles_access_change AFTER UPDATE OR DELETE ON roles FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER clients_access_change AFTER UPDATE OF require_mfa OR DELETE ON clients FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER assignments_access_change AFTER UPDATE OR DELETE ON assignments FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER site_access_access_change AFTER UPDATE OR DELETE ON site_access FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER site_access_machines_access_change AFTER UPDATE OR DELETE ON site_access_machines FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER client_access_access_change AFTER UPDATE OR DELETE ON client_access FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER auth_tokens_access_change AFTER UPDATE OF revoked_at, expires_at OR DELETE ON auth_tokens FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER machines_access_change AFTER UPDATE OF site_id OR DELETE ON machines FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
--> statement-breakpoint
CREATE TRIGGER sessions_end_requested AFTER UPDATE OF end_requested_at ON sessions FOR EACH STATEMENT EXECUTE FUNCTION steward_notify_access_change();
