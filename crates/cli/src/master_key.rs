//! `ostiary admin master-key`: rotating the key ring that seals private keys and secrets at rest.
//! A new key goes first (it seals from the next start), every server restarts with the ring,
//! `reseal` moves every sealed value to the new key, and `retire` drops the old ones
//! (docs/operations.md#master-key-rotation).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use ostiary_store::{MasterKey, Store};
use serde_json::json;

use crate::settings::{Settings, master_key, write_private};

#[derive(Debug, Subcommand)]
pub enum MasterKeyCommand {
    /// Print a new random key (for OSTIARY_MASTER_KEY).
    Generate,
    /// Put a new key first in DATA_DIR/master.key, keeping the others after it. Restart the
    /// servers next: they seal with it from then on.
    Rotate,
    /// Seal every sealed value again under the first key. Run it once every server runs with
    /// the new ring.
    Reseal,
    /// Reseal, check that the first key alone opens everything, and drop the other keys from
    /// DATA_DIR/master.key.
    Retire,
}

pub async fn run(settings: &Settings, command: MasterKeyCommand) -> Result<String, String> {
    let from_env = std::env::var_os("OSTIARY_MASTER_KEY").is_some();
    let file = settings.data_dir.join("master.key");
    match command {
        MasterKeyCommand::Generate => Ok(MasterKey::generate_text()),
        MasterKeyCommand::Rotate if from_env => Err(
            "the master key comes from OSTIARY_MASTER_KEY: put a new key (`ostiary admin master-key generate`) first in it, the old ones after it, separated by commas, and restart the servers"
                .into(),
        ),
        MasterKeyCommand::Rotate => {
            let keys = key_texts(&file)?;
            let mut ring = vec![MasterKey::generate_text()];
            ring.extend(keys);
            replace_private(&file, &ring)?;
            Ok(json!({
                "keys": ring.len(),
                "next": "restart every server on this database, then run `ostiary admin master-key retire`",
            })
            .to_string())
        }
        MasterKeyCommand::Reseal => {
            let resealed = open(settings, master_key(&settings.data_dir)?)
                .await?
                .reseal()
                .await?;
            serde_json::to_string(&resealed).map_err(|e| e.to_string())
        }
        MasterKeyCommand::Retire => {
            let resealed = open(settings, master_key(&settings.data_dir)?)
                .await?
                .reseal()
                .await?;
            let ring_text = match from_env {
                true => std::env::var("OSTIARY_MASTER_KEY").unwrap_or_default(),
                false => key_texts(&file)?.join("\n"),
            };
            let first = MasterKey::texts(&ring_text)
                .next()
                .ok_or("no master key")?
                .to_owned();
            // Each value is read with the first key alone: one that does not open fails here,
            // before any key is dropped.
            open(settings, MasterKey::from_text(&first)?)
                .await?
                .reseal()
                .await
                .map_err(|e| format!("the first key does not open everything yet: {e}"))?;
            let dropped = MasterKey::texts(&ring_text).count() - 1;
            if from_env {
                return Ok(json!({
                    "resealed": resealed.resealed,
                    "next": "every value opens with the first key of OSTIARY_MASTER_KEY: drop the others from it",
                })
                .to_string());
            }
            replace_private(&file, &[first])?;
            Ok(json!({ "resealed": resealed.resealed, "retired_keys": dropped }).to_string())
        }
    }
}

async fn open(settings: &Settings, master: MasterKey) -> Result<Store, String> {
    Store::open(&settings.database, master).await
}

/// The keys in `file`, checked, the sealing key first.
fn key_texts(file: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    MasterKey::from_text(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(MasterKey::texts(&text).map(str::to_owned).collect())
}

/// Replaces `file` with `keys`, one a line, whole or not at all: a new private file, synced,
/// then renamed over the old.
fn replace_private(file: &Path, keys: &[String]) -> Result<(), String> {
    let mut staged = PathBuf::from(file);
    staged.set_extension("key.new");
    let _ = std::fs::remove_file(&staged);
    write_private(&staged, &(keys.join("\n") + "\n"))?;
    std::fs::File::open(&staged)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&staged, file))
        .map_err(|e| format!("{}: {e}", file.display()))
}
