-- The notifier's durable state. Times are Unix nanoseconds (UTC), NULL
-- where the Go value is zero; store sets are joined, and text is
-- COLLATE "C", as in 0001.

-- finding_states is what the channels were last told about each finding.
CREATE TABLE finding_states (
	id          text COLLATE "C" PRIMARY KEY,
	signal      text    NOT NULL,
	severity    text    NOT NULL,
	value       text    NOT NULL,
	stores      text COLLATE "C" NOT NULL,
	open        boolean NOT NULL,
	version     bigint  NOT NULL CHECK (version >= 0),
	opened_at   bigint  NOT NULL,
	changed_at  bigint  NOT NULL,
	reminded_at bigint
);

-- outbox is the messages queued for each channel. A message is leased to
-- one sender (lease_owner) until lease_until while it tries a delivery;
-- done_at is set exactly when it left pending.
CREATE TABLE outbox (
	id          bigserial PRIMARY KEY,
	key         text COLLATE "C" NOT NULL UNIQUE,
	channel     text COLLATE "C" NOT NULL,
	payload     bytea   NOT NULL,
	created_at  bigint  NOT NULL,
	next_at     bigint  NOT NULL,
	attempts    bigint  NOT NULL DEFAULT 0 CHECK (attempts >= 0),
	state       text    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'dead')),
	last_error  text    NOT NULL DEFAULT '',
	done_at     bigint,
	lease_owner text,
	lease_until bigint,
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
	finding    text COLLATE "C" PRIMARY KEY,
	until      bigint NOT NULL,
	acked_by   text   NOT NULL,
	reason     text   NOT NULL,
	created_at bigint NOT NULL
);
