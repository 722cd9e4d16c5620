-- Times are Unix nanoseconds (UTC), as in the SQLite backend: exact (a
-- timestamptz keeps microseconds only), and ordered as integers.
-- Store sets are their sorted ids joined by ',' (ids cannot contain one).
-- Text is COLLATE "C": byte order, as Go sorts, whatever the database's
-- locale.

-- reports keeps each raw report for the retention period; its id makes
-- PutReport idempotent.
CREATE TABLE reports (
	id           text COLLATE "C" PRIMARY KEY,
	agent        text COLLATE "C" NOT NULL,
	collected_at bigint NOT NULL,
	received_at  bigint NOT NULL,
	raw          bytea  NOT NULL
);
-- PruneReports deletes by received_at.
CREATE INDEX reports_received_at ON reports (received_at);

-- sightings is the history: one row per (agent, signal, value, stores), its
-- key in the order Sightings returns them.
CREATE TABLE sightings (
	agent      text COLLATE "C" NOT NULL,
	signal     text COLLATE "C" NOT NULL,
	value      text COLLATE "C" NOT NULL,
	stores     text COLLATE "C" NOT NULL,
	first_seen bigint NOT NULL,
	last_seen  bigint NOT NULL,
	count      bigint NOT NULL CHECK (count > 0),
	PRIMARY KEY (agent, signal, value, stores)
);

-- agents is each agent's state from its latest report by collected_at.
CREATE TABLE agents (
	agent        text COLLATE "C" PRIMARY KEY,
	collected_at bigint  NOT NULL,
	stores       text COLLATE "C" NOT NULL,
	conflict     boolean NOT NULL,
	errors       jsonb   NOT NULL, -- array of report.CollectorError
	version      text    NOT NULL
);

-- tokens keeps only the SHA-256 of each secret.
CREATE TABLE tokens (
	id         text COLLATE "C" PRIMARY KEY,
	agent      text COLLATE "C" NOT NULL,
	hash       bytea  NOT NULL UNIQUE,
	created_at bigint NOT NULL,
	revoked_at bigint
);
-- Tokens lists by creation time.
CREATE INDEX tokens_created_at ON tokens (created_at, id);
