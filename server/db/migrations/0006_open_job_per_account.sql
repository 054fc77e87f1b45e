-- Before the index: should two triggers ever have raced to open jobs for one account, keep the newest open.
UPDATE "credential_jobs" SET "state" = 'cancelled', "finished_at" = now(), "lease_until" = NULL, "last_error" = 'cancelled: a newer job of this account was open'
WHERE "state" IN ('queued', 'prepared') AND EXISTS (
  SELECT 1 FROM "credential_jobs" AS newer
  WHERE newer."account_id" = "credential_jobs"."account_id" AND newer."state" IN ('queued', 'prepared')
    AND (newer."created_at", newer."id") > ("credential_jobs"."created_at", "credential_jobs"."id")
);--> statement-breakpoint
CREATE UNIQUE INDEX "credential_jobs_open_account_key" ON "credential_jobs" USING btree ("account_id") WHERE state in ('queued', 'prepared');
