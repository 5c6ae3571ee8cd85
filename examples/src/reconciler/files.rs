// SPDX-License-Identifier: MIT OR Apache-2.0
//! The reconciler's two files: the desired state it reads, and the services
//! it owns, which it writes.

use std::collections::HashSet;
use std::io;
use std::path::Path;

use ipvs::{ApplyOptions, Plan, ServiceKey, ServiceState, Snapshot};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

/// The desired-state file: `{"services": [...]}`, each entry a service and
/// its destinations in the `ipvs` crate's serde format.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DesiredFile {
    /// Required, so that `{}` is an error rather than "delete everything".
    services: Vec<ServiceState>,
}

/// Why a desired-state file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    /// It could not be read.
    #[error("cannot read it: {0}")]
    Read(#[source] io::Error),
    /// It is not JSON of the format (serde_json names the line and column).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// Its values parse but do not make a valid state: a service listed
    /// twice, a destination of the wrong family, ...
    #[error(transparent)]
    Invalid(#[from] ipvs::Error),
}

/// Parses a desired-state file and checks it as every apply will, without
/// the kernel.
pub fn parse_desired(bytes: &[u8]) -> Result<Vec<ServiceState>, DesiredError> {
    let file: DesiredFile = serde_json::from_slice(bytes)?;
    // A plan against an empty table runs every check of a desired state and
    // reads nothing from the kernel.
    Plan::new(
        &Snapshot::default(),
        &file.services,
        &ApplyOptions::default(),
    )?;
    Ok(file.services)
}

/// The state file: `{"owned": ["tcp:203.0.113.1:80", ...]}`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    owned: Vec<ServiceKey>,
}

/// The services the state file says this reconciler owns; none when the
/// file does not exist yet (a first run).
pub async fn load_owned(path: &Path) -> io::Result<HashSet<ServiceKey>> {
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            let file: StateFile = serde_json::from_slice(&bytes)?;
            Ok(file.owned.into_iter().collect())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(e),
    }
}

/// Writes the state file so that a crash leaves the old one or the new one,
/// never a torn one: a temporary file beside it, synced, renamed over it.
pub async fn save_owned(path: &Path, owned: &HashSet<ServiceKey>) -> io::Result<()> {
    let mut owned: Vec<ServiceKey> = owned.iter().copied().collect();
    owned.sort_by_cached_key(ToString::to_string);
    let mut json = serde_json::to_vec_pretty(&StateFile { owned })?;
    json.push(b'\n');
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    let mut file = tokio::fs::File::create(&temporary).await?;
    file.write_all(&json).await?;
    file.sync_all().await?;
    tokio::fs::rename(&temporary, path).await
}
