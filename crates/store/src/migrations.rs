//! Versioned schema migrations, applied in order at start. The same SQL serves SQLite and
//! PostgreSQL: TEXT, BIGINT (epoch seconds, 0/1 flags) and JSON kept as TEXT.

/// (version, name, statements). Append; never edit a released migration.
pub const MIGRATIONS: &[(i64, &str, &[&str])] = &[
    (
        1,
        "authorization server core",
        &[
            "CREATE TABLE server_config (id BIGINT PRIMARY KEY, body TEXT NOT NULL, updated_at BIGINT NOT NULL)",
            "CREATE TABLE key_rings (id TEXT PRIMARY KEY, sealed TEXT NOT NULL, updated_at BIGINT NOT NULL)",
            "CREATE TABLE clients (
            client_id TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            secret_hash TEXT,
            secret_sealed TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL)",
            "CREATE TABLE users (
            username TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            claims TEXT NOT NULL,
            enabled BIGINT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL)",
            "CREATE TABLE tokens (
            hash TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            client_id TEXT NOT NULL,
            username TEXT,
            scope TEXT NOT NULL,
            family TEXT NOT NULL,
            grant_id TEXT,
            jti TEXT NOT NULL,
            audience TEXT NOT NULL,
            issued_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            revoked BIGINT NOT NULL,
            used_at BIGINT,
            extra TEXT NOT NULL)",
            "CREATE INDEX tokens_family ON tokens (family)",
            "CREATE INDEX tokens_grant ON tokens (grant_id)",
            "CREATE INDEX tokens_username ON tokens (username)",
            "CREATE INDEX tokens_client ON tokens (client_id)",
            "CREATE INDEX tokens_expires ON tokens (expires_at)",
            "CREATE TABLE codes (
            hash TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            redirect_uri TEXT NOT NULL,
            username TEXT NOT NULL,
            scope TEXT NOT NULL,
            nonce TEXT,
            code_challenge TEXT,
            code_challenge_method TEXT,
            auth_time BIGINT NOT NULL,
            grant_id TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            used_at BIGINT,
            extra TEXT NOT NULL)",
            "CREATE TABLE jtis (key TEXT PRIMARY KEY, expires_at BIGINT NOT NULL)",
        ],
    ),
    (
        2,
        "user sessions, consents and pending authorization requests",
        &[
            "CREATE TABLE sessions (
            hash TEXT PRIMARY KEY,
            sid TEXT NOT NULL,
            username TEXT NOT NULL,
            auth_time BIGINT NOT NULL,
            expires_at BIGINT NOT NULL)",
            "CREATE INDEX sessions_username ON sessions (username)",
            "CREATE TABLE consents (
            username TEXT NOT NULL,
            client_id TEXT NOT NULL,
            scope TEXT NOT NULL,
            updated_at BIGINT NOT NULL,
            PRIMARY KEY (username, client_id))",
            "CREATE TABLE interactions (
            hash TEXT PRIMARY KEY,
            request TEXT NOT NULL,
            browser TEXT NOT NULL,
            username TEXT,
            auth_time BIGINT,
            expires_at BIGINT NOT NULL)",
        ],
    ),
    (
        3,
        "the clients each user session signed in to, for front-channel logout",
        &["CREATE TABLE session_clients (
            sid TEXT NOT NULL,
            client_id TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (sid, client_id))"],
    ),
    (
        4,
        "the client runtime: server descriptions, client configurations (sealed) and tokens (sealed)",
        &[
            "CREATE TABLE rp_servers (issuer TEXT PRIMARY KEY, body TEXT NOT NULL, updated_at BIGINT NOT NULL)",
            "CREATE TABLE rp_clients (
            app TEXT PRIMARY KEY,
            issuer TEXT NOT NULL,
            sealed TEXT NOT NULL,
            updated_at BIGINT NOT NULL)",
            "CREATE TABLE rp_tokens (
            app TEXT NOT NULL,
            session TEXT NOT NULL,
            sealed TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (app, session))",
        ],
    ),
    (
        5,
        "the client runtime's pending authorization requests, and the sessions' sid",
        &[
            "CREATE TABLE rp_pending (state TEXT PRIMARY KEY, sealed TEXT NOT NULL, expires_at BIGINT NOT NULL)",
            // The server's session id of the tokens, for front-channel logout.
            "ALTER TABLE rp_tokens ADD COLUMN sid TEXT",
        ],
    ),
    (
        6,
        "the administrators' audit log",
        &[
            // `at_us`: the clock's microseconds at insertion, which keep the order of changes.
            "CREATE TABLE audit_log (
            at BIGINT NOT NULL,
            at_us BIGINT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            detail TEXT NOT NULL)",
            "CREATE INDEX audit_log_at ON audit_log (at_us)",
        ],
    ),
];
