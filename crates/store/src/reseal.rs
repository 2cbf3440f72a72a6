//! Moving every sealed value to the master key ring's first key, so that older keys can be
//! retired (docs/operations.md#master-key-rotation).

use super::*;

/// A sealed column: its table, the columns that name a row, and the sealing context of a row.
struct SealedColumn {
    table: &'static str,
    column: &'static str,
    keys: &'static [&'static str],
    context: fn(&[String]) -> String,
}

const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "key_rings",
        column: "sealed",
        keys: &["id"],
        context: |key| format!("key_ring:{}", key[0]),
    },
    SealedColumn {
        table: "clients",
        column: "secret_sealed",
        keys: &["client_id"],
        context: |key| clients::secret_context(&key[0]),
    },
    SealedColumn {
        table: "rp_clients",
        column: "sealed",
        keys: &["app"],
        context: |key| relying_party::client_context(&key[0]),
    },
    SealedColumn {
        table: "rp_tokens",
        column: "sealed",
        keys: &["app", "session"],
        context: |key| relying_party::tokens_context(&key[0], &key[1]),
    },
    SealedColumn {
        table: "rp_pending",
        column: "sealed",
        keys: &["state"],
        context: |key| relying_party::pending_context(&key[0]),
    },
];

/// What a reseal did.
#[derive(Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Resealed {
    /// Values sealed again under the first key.
    pub resealed: u64,
    /// Values that were sealed under it already.
    pub current: u64,
}

impl Store {
    /// Seals every sealed value again under the master key ring's first key. Safe while servers
    /// run: a row changed meanwhile keeps its change (each update expects the value it read).
    /// A value no key of the ring opens fails the reseal, naming its row; so with a ring of one
    /// key, this checks that the key opens everything.
    pub async fn reseal(&self) -> Result<Resealed, String> {
        let mut done = Resealed::default();
        for sealed in SEALED_COLUMNS {
            let (table, column) = (sealed.table, sealed.column);
            let keys = sealed.keys.join(", ");
            let select = format!("SELECT {keys}, {column} FROM {table} WHERE {column} IS NOT NULL");
            let rows = sqlx::query(sqlx::AssertSqlSafe(select))
                .fetch_all(&self.pool)
                .await
                .map_err(|e| format!("{table}: {e}"))?;
            let matches: Vec<String> = sealed
                .keys
                .iter()
                .enumerate()
                .map(|(n, key)| format!("{key} = ${}", n + 3))
                .collect();
            let update = format!(
                "UPDATE {table} SET {column} = $1 WHERE {column} = $2 AND {}",
                matches.join(" AND ")
            );
            for row in rows {
                let key = (0..sealed.keys.len())
                    .map(|n| row.try_get::<String, _>(n))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{table}: {e}"))?;
                let value: String = row
                    .try_get(sealed.keys.len())
                    .map_err(|e| format!("{table}: {e}"))?;
                let again = self
                    .master
                    .reseal(&(sealed.context)(&key), &value)
                    .map_err(|e| format!("{table} {}: {e}", key.join(" ")))?;
                let Some(again) = again else {
                    done.current += 1;
                    continue;
                };
                let mut query = sqlx::query(sqlx::AssertSqlSafe(update.clone()))
                    .bind(again)
                    .bind(value);
                for part in &key {
                    query = query.bind(part.as_str());
                }
                let updated = query
                    .execute(&self.pool)
                    .await
                    .map_err(|e| format!("{table}: {e}"))?;
                // None when the row changed or went meanwhile: its new value is its writer's.
                done.resealed += updated.rows_affected();
            }
        }
        Ok(done)
    }
}
