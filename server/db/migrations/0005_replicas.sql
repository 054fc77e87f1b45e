ALTER TABLE "machines" ADD COLUMN "connected_via" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "relay_url" text;