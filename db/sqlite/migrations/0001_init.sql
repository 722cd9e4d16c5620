-- Times are Unix nanoseconds (UTC): exact, and ordered as integers.
-- Store sets are their sorted ids joined by ',' (ids cannot contain one).

-- reports keeps each raw report for the retention period; its id makes
-- PutReport idempotent.
CREATE TABLE reports (
	seq          INTEGER PRIMARY KEY,
	id           TEXT    NOT NULL UNIQUE,
	agent        TEXT    NOT NULL,
	collected_at INTEGER NOT NULL,
	received_at  INTEGER NOT NULL,
	raw          BLOB    NOT NULL
);
-- PruneReports deletes by received_at.
CREATE INDEX reports_received_at ON reports (received_at);

-- sightings is the history: one row per (agent, signal, value, stores),
-- clustered in the order Sightings returns them.
CREATE TABLE sightings (
	agent      TEXT    NOT NULL,
	signal     TEXT    NOT NULL,
	value      TEXT    NOT NULL,
	stores     TEXT    NOT NULL,
	first_seen INTEGER NOT NULL,
	last_seen  INTEGER NOT NULL,
	count      INTEGER NOT NULL CHECK (count > 0),
	PRIMARY KEY (agent, signal, value, stores)
) WITHOUT ROWID;

-- agents is each agent's state from its latest report by collected_at.
CREATE TABLE agents (
	agent        TEXT    NOT NULL PRIMARY KEY,
	collected_at INTEGER NOT NULL,
	stores       TEXT    NOT NULL,
	conflict     INTEGER NOT NULL CHECK (conflict IN (0, 1)),
	errors       TEXT    NOT NULL, -- JSON array of report.CollectorError
	version      TEXT    NOT NULL
) WITHOUT ROWID;

-- tokens keeps only the SHA-256 of each secret.
CREATE TABLE tokens (
	id         TEXT    NOT NULL PRIMARY KEY,
	agent      TEXT    NOT NULL,
	hash       BLOB    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER
);
-- Tokens lists by creation time.
CREATE INDEX tokens_created_at ON tokens (created_at, id);
