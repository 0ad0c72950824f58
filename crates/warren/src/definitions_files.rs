//! Definitions loaded at start (`load_definitions`,
//! `management.load_definitions`, `definitions.local.path`,
//! `--load-definitions`): a RabbitMQ JSON file, or a directory whose `*.json`
//! files are imported in name order, as RabbitMQ does.

use std::path::{Path, PathBuf};

use anyhow::Context;
use warren_core::Broker;

/// The files `path` stands for: itself, or a directory's `*.json` files.
fn files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("cannot read definitions directory {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    Ok(out)
}

/// Imports the definitions at `path` (a file or directory); an unreadable or
/// invalid file stops the broker with an error naming it.
pub fn load(broker: &Broker, path: &Path) -> anyhow::Result<()> {
    for file in files(path)? {
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read definitions file {}", file.display()))?;
        let defs: warren_core::definitions::Definitions = serde_json::from_str(&text)
            .with_context(|| format!("definitions file {} is not valid", file.display()))?;
        warren_core::definitions::import(broker, &defs, None)
            .with_context(|| format!("cannot import definitions from {}", file.display()))?;
        tracing::info!("imported definitions from {}", file.display());
    }
    Ok(())
}
