-- The web page of Fig. 30: a user's login, and the current tunnels the page shows.
--
-- Portable like 001 (same text on SQLite and PostgreSQL; BIGINT, TEXT, Unix seconds).

-- One login per NAI: an argon2id password hash in PHC form ($argon2id$v=19$m=...,t=...,p=...
-- $salt$hash). Never the password. Kept apart from vpn_profile: a user may log in before an
-- operator gives it a profile, and importing profiles never touches passwords.
CREATE TABLE vpn_login (
    nai           TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    changed_at    BIGINT NOT NULL
);

-- The current tunnels of each user: one row per VPN (profile) of a registration session
-- (the Diameter Session-Id of the VPN information cache, Fig. 7), written by the AAAH when it
-- provisions the path (Fig. 13) and removed when the session ends or expires. No foreign key
-- to vpn_profile: a tunnel outlives an edit or a deletion of its profile until the next
-- registration.
CREATE TABLE vpn_session (
    session_id     TEXT NOT NULL,
    nai            TEXT NOT NULL,
    profile_number BIGINT NOT NULL CHECK (profile_number BETWEEN 1 AND 4294967295),
    fa             TEXT NOT NULL,
    ha             TEXT NOT NULL,
    src_gw         TEXT NOT NULL,
    dst_gw         TEXT NOT NULL,
    gw_type        TEXT NOT NULL CHECK (gw_type IN ('static', 'dynamic')),
    up_spi         BIGINT NOT NULL CHECK (up_spi BETWEEN 256 AND 4294967295),
    down_spi       BIGINT NOT NULL CHECK (down_spi BETWEEN 256 AND 4294967295),
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    PRIMARY KEY (session_id, profile_number)
);

CREATE INDEX vpn_session_nai ON vpn_session (nai, profile_number);
CREATE INDEX vpn_session_expires ON vpn_session (expires_at);
