-- The notifier's durable state. Times are Unix nanoseconds (UTC), NULL
-- where the Go value is zero; store sets are joined as in 0001.

-- finding_states is what the channels were last told about each finding.
CREATE TABLE finding_states (
	id          TEXT    NOT NULL PRIMARY KEY,
	signal      TEXT    NOT NULL,
	severity    TEXT    NOT NULL,
	value       TEXT    NOT NULL,
	stores      TEXT    NOT NULL,
	open        INTEGER NOT NULL CHECK (open IN (0, 1)),
	version     INTEGER NOT NULL CHECK (version >= 0),
	opened_at   INTEGER NOT NULL,
	changed_at  INTEGER NOT NULL,
	reminded_at INTEGER
) WITHOUT ROWID;

-- outbox is the messages queued for each channel. AUTOINCREMENT: an id is
-- never reused, not even after the newest messages were pruned. A message
-- is leased to one sender (lease_owner) until lease_until while it tries a
-- delivery; done_at is set exactly when it left pending.
CREATE TABLE outbox (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	key         TEXT    NOT NULL UNIQUE,
	channel     TEXT    NOT NULL,
	payload     BLOB    NOT NULL,
	created_at  INTEGER NOT NULL,
	next_at     INTEGER NOT NULL,
	attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
	last_error  TEXT    NOT NULL DEFAULT '',
	done_at     INTEGER,
	lease_owner TEXT,
	lease_until INTEGER,
	CHECK ((state = 'pending') = (done_at IS NULL))
);
-- ClaimOutbox walks a channel's pending messages by id; the index holds
-- only pending ones.
CREATE INDEX outbox_claim ON outbox (channel, id) WHERE state = 'pending';
-- OutboxStats counts by state, and finds the oldest pending.
CREATE INDEX outbox_state ON outbox (state, created_at);
-- PruneOutbox deletes by done_at.
CREATE INDEX outbox_done ON outbox (done_at) WHERE done_at IS NOT NULL;

-- acks mutes a finding's notifications until it expires: one per finding.
CREATE TABLE acks (
	finding    TEXT    NOT NULL PRIMARY KEY,
	until      INTEGER NOT NULL,
	acked_by   TEXT    NOT NULL,
	reason     TEXT    NOT NULL,
	created_at INTEGER NOT NULL
) WITHOUT ROWID;
