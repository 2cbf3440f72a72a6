//! Storage adapters: SQLite (a file in the data directory, the embedded default) and PostgreSQL
//! (for several nodes), one SQL code path, migrations, and secrets sealed at rest. Implements the
//! storage traits of the server and client crates. Arrives with the server core issue.
