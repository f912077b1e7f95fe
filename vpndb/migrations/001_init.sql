-- The VPN database of seed 003: the SLAs (Fig. 4), the CN -> GW table (Fig. 8), the VPN data
-- instances (Fig. 5) with their destinations, and the audit of every change.
--
-- Portable: the same text runs on SQLite (3.35+) and PostgreSQL (9.5+). Integers are BIGINT
-- (SQLite: INTEGER affinity; PostgreSQL: int8, what the stores bind), booleans are 0/1
-- BIGINT, times are Unix seconds, addresses and masks are dotted TEXT, keys are BYTEA
-- (SQLite gives that NUMERIC affinity, which keeps blobs unchanged). No AUTOINCREMENT,
-- SERIAL or identity (they differ): audit ids come from the vpn_counter row.

CREATE TABLE vpn_sla (
    name          TEXT PRIMARY KEY,
    up_spi        BIGINT NOT NULL CHECK (up_spi BETWEEN 256 AND 4294967295),
    down_spi      BIGINT NOT NULL CHECK (down_spi BETWEEN 256 AND 4294967295),
    up_enc_key    BYTEA NOT NULL,
    down_enc_key  BYTEA NOT NULL,
    up_auth_key   BYTEA NOT NULL,
    down_auth_key BYTEA NOT NULL,
    up_tos        BIGINT NOT NULL CHECK (up_tos BETWEEN 0 AND 255),
    down_tos      BIGINT NOT NULL CHECK (down_tos BETWEEN 0 AND 255),
    security      TEXT NOT NULL CHECK (security IN ('ah', 'esp', 'encapsulation_only')),
    changed_at    BIGINT NOT NULL
);

-- The enterprise's domain (what the ISP sets in Fig. 4).
CREATE TABLE vpn_sla_domain (
    sla      TEXT NOT NULL REFERENCES vpn_sla (name) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    addr     TEXT NOT NULL,
    mask     TEXT NOT NULL,
    PRIMARY KEY (sla, position)
);

-- "A list of users that can utilize this VPN" (Fig. 4).
CREATE TABLE vpn_sla_user (
    sla      TEXT NOT NULL REFERENCES vpn_sla (name) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    nai      TEXT NOT NULL,
    PRIMARY KEY (sla, position),
    UNIQUE (sla, nai)
);

-- The CN -> GW address correspondence table (Fig. 8).
CREATE TABLE vpn_cn_gw (
    cn_addr    TEXT NOT NULL,
    cn_mask    TEXT NOT NULL,
    gw         TEXT NOT NULL,
    gw_type    TEXT NOT NULL CHECK (gw_type IN ('static', 'dynamic')),
    changed_at BIGINT NOT NULL,
    PRIMARY KEY (cn_addr, cn_mask)
);

-- The VPN data instances (Fig. 5). version and service_update carry the service update of
-- Fig. 30: every change raises version and sets service_update; the AAAH clears it when it
-- re-reads the profile for a registration.
CREATE TABLE vpn_profile (
    profile_number BIGINT PRIMARY KEY CHECK (profile_number BETWEEN 1 AND 4294967295),
    nai            TEXT NOT NULL,
    sla            TEXT NOT NULL REFERENCES vpn_sla (name),
    vpnshare       BIGINT NOT NULL CHECK (vpnshare IN (0, 1)),
    up_class       BIGINT CHECK (up_class BETWEEN 0 AND 255),
    down_class     BIGINT CHECK (down_class BETWEEN 0 AND 255),
    up_spi         BIGINT CHECK (up_spi BETWEEN 256 AND 4294967295),
    down_spi       BIGINT CHECK (down_spi BETWEEN 256 AND 4294967295),
    version        BIGINT NOT NULL,
    changed_at     BIGINT NOT NULL,
    service_update BIGINT NOT NULL DEFAULT 0 CHECK (service_update IN (0, 1))
);

CREATE INDEX vpn_profile_nai ON vpn_profile (nai);

-- destaddr (Fig. 5): the destinations of a VPN, in the order given.
CREATE TABLE vpn_profile_dest (
    profile_number BIGINT NOT NULL REFERENCES vpn_profile (profile_number) ON DELETE CASCADE,
    position       BIGINT NOT NULL,
    addr           TEXT NOT NULL,
    mask           TEXT NOT NULL,
    PRIMARY KEY (profile_number, position),
    UNIQUE (profile_number, addr, mask)
);

-- Every change: who, what, when.
CREATE TABLE vpn_audit (
    id     BIGINT PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);

-- Named counters, raised with UPDATE ... RETURNING (a row lock on PostgreSQL, so ids are
-- unique across appliances).
CREATE TABLE vpn_counter (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);

INSERT INTO vpn_counter (name, value) VALUES ('audit', 0);
