//! `tpctl.toml`: the server address and API key tpctl uses when neither a
//! flag nor the environment gives them.

use std::path::PathBuf;

/// `tpctl.toml`: unknown keys are refused, naming the known ones.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub server: Option<String>,
    pub api_key: Option<String>,
}

/// Where tpctl connects when nothing says otherwise.
pub const DEFAULT_SERVER: &str = "127.0.0.1:50051";

/// Reads `path`, else `~/.config/tradeplane/tpctl.toml` when it exists.
pub fn load_file_config(path: Option<&PathBuf>) -> Result<FileConfig, String> {
    let (path, explicit) = match path {
        Some(path) => (path.clone(), true),
        None => match std::env::var_os("HOME") {
            Some(home) => (
                PathBuf::from(home).join(".config/tradeplane/tpctl.toml"),
                false,
            ),
            None => return Ok(FileConfig::default()),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
        }
        Err(err) if !explicit && err.kind() == std::io::ErrorKind::NotFound => {
            Ok(FileConfig::default())
        }
        Err(err) => Err(format!("config file {}: {err}", path.display())),
    }
}
