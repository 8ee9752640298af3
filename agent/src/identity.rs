//! The node's identity, created once and kept in the data directory (`node_id`), so that a
//! restarted node is the same origin to its peers and digests do not grow with restarts.
//! A node id never changes for a data directory.

use std::path::{Path, PathBuf};

use rand::Rng;

use crate::crdt::NodeId;

/// The node id file is unreadable or corrupt.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot use node id file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("node id file {path} is corrupt ({content:?}); remove it to get a new identity")]
    Corrupt { path: PathBuf, content: String },
}

/// File name of the node id inside the data directory.
pub const NODE_ID_FILE: &str = "node_id";

/// Loads the node id from `data_dir`, creating it (random, written atomically) the first time.
pub fn load_or_create(data_dir: &Path) -> Result<NodeId, IdentityError> {
    let path = data_dir.join(NODE_ID_FILE);
    let io = |source| IdentityError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(content) => content.trim().parse().map_err(|_| IdentityError::Corrupt {
            path: path.clone(),
            content,
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let id = NodeId(rand::thread_rng().gen_range(1..u64::MAX));
            let tmp = data_dir.join(format!("{NODE_ID_FILE}.tmp"));
            std::fs::write(&tmp, format!("{id}\n")).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
            Ok(id)
        }
        Err(err) => Err(io(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_stable_across_loads_and_corruption_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = load_or_create(dir.path()).expect("create");
        assert_eq!(load_or_create(dir.path()).expect("load"), first);
        std::fs::write(dir.path().join(NODE_ID_FILE), "garbage").expect("write");
        let err = load_or_create(dir.path()).expect_err("corrupt");
        assert!(err.to_string().contains("remove it"), "{err}");
    }
}
