//! The administrators' audit log: appended to, read newest first.

use super::*;

#[async_trait]
impl AuditStore for Store {
    async fn record_audit(&self, entry: &AuditEntry) -> StoreResult<()> {
        let at_us = ostiary_jose::clock::now_micros();
        sqlx::query(
            "INSERT INTO audit_log (at, at_us, actor, action, target, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(entry.at)
        .bind(at_us)
        .bind(&entry.actor)
        .bind(&entry.action)
        .bind(&entry.target)
        .bind(serde_json::to_string(&entry.detail).map_err(corrupt)?)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> StoreResult<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, detail FROM audit_log ORDER BY at_us DESC LIMIT $1",
        )
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail").map_err(corrupt)?;
                Ok(AuditEntry {
                    at: row.try_get("at").map_err(corrupt)?,
                    actor: row.try_get("actor").map_err(corrupt)?,
                    action: row.try_get("action").map_err(corrupt)?,
                    target: row.try_get("target").map_err(corrupt)?,
                    detail: serde_json::from_str(&detail).map_err(corrupt)?,
                })
            })
            .collect()
    }
}
