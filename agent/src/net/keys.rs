//! The cluster key: 32 random bytes kept as one line of hex in a text file (mode 0600), made by
//! `officemesh keygen`. Holds generating and loading key files and [`ClusterKeys`] (one key to
//! send with, several accepted, for rotation without downtime). Touches only the key files;
//! knows nothing of sockets or Noise.

use std::fmt;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;

use crate::config::GossipConfig;

/// Length of a cluster key in bytes (the Noise PSK length).
pub const KEY_LEN: usize = 32;

/// A cluster key. `Debug` never shows the secret, only its fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct Key([u8; KEY_LEN]);

impl Key {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Key {
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Key(bytes)
    }

    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Key {
        Key(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A short public name of the key (16 hex digits of a BLAKE3 hash) that operators can
    /// compare between Pis without revealing the key.
    pub fn fingerprint(&self) -> String {
        let hash = blake3::derive_key("officemesh cluster key fingerprint v1", &self.0);
        hex::encode(&hash[..8])
    }

    /// Parses the key file's text: 64 hex digits, surrounding whitespace ignored.
    fn parse(text: &str) -> Result<Key, KeyFormatError> {
        let trimmed = text.trim();
        if trimmed.len() != KEY_LEN * 2 {
            return Err(KeyFormatError::Length(trimmed.len()));
        }
        let mut bytes = [0u8; KEY_LEN];
        hex::decode_to_slice(trimmed, &mut bytes)?;
        Ok(Key(bytes))
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(fingerprint {})", self.fingerprint())
    }
}

/// Hex digits in a key file.
const HEX_DIGITS: usize = KEY_LEN * 2;

/// Why a key file's text is not a key.
#[derive(Debug, thiserror::Error)]
pub enum KeyFormatError {
    #[error(
        "expected {HEX_DIGITS} hex digits ({KEY_LEN} bytes) on one line, found {0} characters"
    )]
    Length(usize),
    #[error("not a hex key ({0})")]
    NotHex(#[from] hex::FromHexError),
}

/// A key file that cannot be made or used; every message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "cluster key file {path} does not exist; create it with `officemesh keygen --out {path}` \
         and copy the same file to every Pi of the cluster"
    )]
    Missing { path: PathBuf },
    #[error("cannot read cluster key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cluster key file {path} is not a valid key: {reason}; \
         make a new one with `officemesh keygen --out {path} --force`"
    )]
    Format {
        path: PathBuf,
        reason: KeyFormatError,
    },
    #[error(
        "cluster key file {path} already exists; refusing to overwrite it \
         (pass --force to replace it — every Pi then needs the new key)"
    )]
    Exists { path: PathBuf },
    #[error("cannot write cluster key file {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Writes a new random key to `path` (one line of hex, mode 0600) atomically: a temporary file
/// in the same directory is written, synced and renamed over `path`. Refuses to replace an
/// existing file unless `overwrite`. Creates the parent directory if needed.
pub fn generate_key_file(path: &Path, overwrite: bool) -> Result<Key, KeyError> {
    if !overwrite && path.exists() {
        return Err(KeyError::Exists {
            path: path.to_path_buf(),
        });
    }
    let write_err = |source: std::io::Error| KeyError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(write_err)?;
    let file_name = path
        .file_name()
        .ok_or_else(|| {
            write_err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path has no file name",
            ))
        })?
        .to_string_lossy()
        .into_owned();
    let tmp = dir.join(format!(
        ".{file_name}.tmp-{}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    let key = Key::generate();
    let result = write_private_file(&tmp, &format!("{}\n", hex::encode(key.as_bytes())))
        .and_then(|()| std::fs::rename(&tmp, path))
        .and_then(|()| std::fs::File::open(&dir)?.sync_all());
    if let Err(source) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(write_err(source));
    }
    Ok(key)
}

/// Creates `path` with mode 0600 (never wider, whatever the umask), writes `text` and syncs it.
fn write_private_file(path: &Path, text: &str) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// What `officemesh keygen --out <out> [--force]` runs: writes a new key file and returns the
/// new key's fingerprint for the CLI to print.
pub fn keygen(out: &Path, force: bool) -> Result<String, KeyError> {
    let key = generate_key_file(out, force)?;
    Ok(key.fingerprint())
}

/// Reads a key file. Warns (tracing) when the file is readable by group or others.
pub fn load_key(path: &Path) -> Result<Key, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            KeyError::Missing {
                path: path.to_path_buf(),
            }
        } else {
            KeyError::Read {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    let key = Key::parse(&text).map_err(|reason| KeyError::Format {
        path: path.to_path_buf(),
        reason,
    })?;
    if let Some(warning) = permission_warning(path) {
        tracing::warn!(path = %path.display(), "{warning}");
    }
    Ok(key)
}

/// `Some(message)` when the key file can be read by others, or written by its group. Group read
/// is fine: the .deb makes the key `root:officemesh 0640` so the agent's group can read it.
pub fn permission_warning(path: &Path) -> Option<String> {
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o027 != 0).then(|| {
        format!(
            "cluster key file {} has mode {mode:03o}: other users of this machine can read or \
             change the cluster key; run `chmod 600 {}` (or 640 with the agent's group as its \
             group, as the .deb sets it)",
            path.display(),
            path.display()
        )
    })
}

/// Like [`load_key`], but first creates the file with a new key when it does not exist (for the
/// zero-config local setup, whose key lives in the data directory).
pub fn load_or_generate_key(path: &Path) -> Result<Key, KeyError> {
    match load_key(path) {
        Err(KeyError::Missing { .. }) => match generate_key_file(path, false) {
            // Another process made it first: use theirs.
            Err(KeyError::Exists { .. }) => load_key(path),
            other => other,
        },
        other => other,
    }
}

/// The keys of one node: `send` is used for connections this node opens; `accept` (which always
/// contains `send`) are tried, in order, on connections peers open. Rotate by adding the new key
/// to `accept_key_files` everywhere, then making it `key_file` everywhere, then dropping the old.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterKeys {
    pub send: Key,
    pub accept: Vec<Key>,
}

impl ClusterKeys {
    /// Builds the key set from the sending key and extra accepted ones (duplicates dropped).
    pub fn new(send: Key, extra_accept: impl IntoIterator<Item = Key>) -> ClusterKeys {
        let mut accept = vec![send.clone()];
        for key in extra_accept {
            if !accept.contains(&key) {
                accept.push(key);
            }
        }
        ClusterKeys { send, accept }
    }

    /// Loads `key_file` (to send and accept) and every `accept_key_files` entry (accept only).
    pub fn load(key_file: &Path, accept_key_files: &[PathBuf]) -> Result<ClusterKeys, KeyError> {
        let send = load_key(key_file)?;
        let extra = accept_key_files
            .iter()
            .map(|path| load_key(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClusterKeys::new(send, extra))
    }

    /// Loads the keys named by `[gossip] key_file` and `accept_key_files`.
    pub fn from_config(config: &GossipConfig) -> Result<ClusterKeys, KeyError> {
        ClusterKeys::load(&config.key_file, &config.accept_key_files)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_is_one_hex_line_with_mode_0600_and_loads_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/cluster.key");
        let fingerprint = keygen(&path, false).expect("keygen");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.len(), 65, "64 hex digits and a newline: {text:?}");
        assert!(text.ends_with('\n'));
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let key = load_key(&path).expect("load");
        assert_eq!(hex::encode(key.as_bytes()), text.trim());
        assert_eq!(key.fingerprint(), fingerprint);
        assert_eq!(permission_warning(&path), None);
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().expect("parent"))
            .expect("list")
            .filter_map(Result::ok)
            .map(|entry| entry.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");
    }

    #[test]
    fn refuses_to_overwrite_unless_forced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cluster.key");
        let first = generate_key_file(&path, false).expect("first");
        let err = generate_key_file(&path, false).expect_err("second refused");
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("--force"), "{message}");
        assert_eq!(load_key(&path).expect("load"), first, "file untouched");
        let second = generate_key_file(&path, true).expect("forced");
        assert_ne!(first, second);
        assert_eq!(load_key(&path).expect("load"), second);
    }

    #[test]
    fn missing_file_says_how_to_make_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nope.key");
        let message = load_key(&path).expect_err("missing").to_string();
        assert!(
            message.contains(&format!("officemesh keygen --out {}", path.display())),
            "{message}"
        );
    }

    #[test]
    fn wrong_length_and_non_hex_are_format_errors_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("bad.key");
        for (text, expected) in [
            ("abcd\n", "64 hex digits"),
            (&"zz".repeat(32), "not a hex key"),
            ("", "found 0 characters"),
        ] {
            std::fs::write(&path, text).expect("write");
            let err = load_key(&path).expect_err(text);
            assert!(matches!(err, KeyError::Format { .. }), "{err:?}");
            let message = err.to_string();
            assert!(message.contains(expected), "{message}");
            assert!(message.contains(&path.display().to_string()), "{message}");
        }
    }

    #[test]
    fn readable_by_others_gives_a_warning_but_still_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cluster.key");
        let key = generate_key_file(&path, false).expect("make");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let warning = permission_warning(&path).expect("warned");
        assert!(
            warning.contains("644") && warning.contains("chmod 600"),
            "{warning}"
        );
        assert_eq!(load_key(&path).expect("loads"), key);
        // What the .deb sets (root:officemesh 0640) is not warned about.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(permission_warning(&path), None);
    }

    #[test]
    fn cluster_keys_send_with_one_and_accept_all_without_duplicates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let new = dir.path().join("new.key");
        let old = dir.path().join("old.key");
        let new_key = generate_key_file(&new, false).expect("new");
        let old_key = generate_key_file(&old, false).expect("old");
        let keys = ClusterKeys::load(&new, &[old.clone(), new.clone()]).expect("load");
        assert_eq!(keys.send, new_key);
        assert_eq!(keys.accept, vec![new_key, old_key]);
        let missing = dir.path().join("gone.key");
        let err = ClusterKeys::load(&new, std::slice::from_ref(&missing))
            .expect_err("missing accept file");
        assert!(err.to_string().contains(&missing.display().to_string()));
    }

    #[test]
    fn load_or_generate_makes_the_file_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cluster.key");
        let first = load_or_generate_key(&path).expect("made");
        let again = load_or_generate_key(&path).expect("loaded");
        assert_eq!(first, again);
    }

    #[test]
    fn debug_does_not_leak_the_key() {
        let key = Key::from_bytes([0xab; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("abab"), "{shown}");
    }
}
