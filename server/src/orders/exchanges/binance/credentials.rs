//! API credentials read from a file: a TOML file with `api_key` and
//! `api_secret` (and, for a venue that signs with one, `passphrase`) that
//! only its owner may read (mode 0600 or stricter).

use std::path::Path;

use serde::Deserialize;

/// What a credentials file holds.
#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsFile {
    pub api_key: String,
    pub api_secret: String,
    /// Only for a venue that signs with one.
    #[serde(default)]
    pub passphrase: Option<String>,
}

/// The key and secret in the `credentials_file` of the configuration
/// section `section`, if one is set; errors name the key. Setting both a
/// file and a key or secret is refused: one source per account.
pub fn load(
    section: &str,
    file: &str,
    (api_key, api_secret): (&str, &str),
) -> Result<Option<(String, String)>, (String, String)> {
    let loaded = load_file(section, file, (api_key, api_secret))?;
    match loaded {
        Some(CredentialsFile {
            passphrase: Some(_),
            ..
        }) => Err((
            format!("{section}.credentials_file"),
            format!("`{file}` holds a passphrase, which this venue does not use"),
        )),
        Some(parsed) => Ok(Some((parsed.api_key, parsed.api_secret))),
        None => Ok(None),
    }
}

/// Like [`load`], for a venue that also signs with a passphrase (OKX):
/// the file may hold it too, and then replaces the section's, which must
/// be empty.
pub fn load_with_passphrase(
    section: &str,
    file: &str,
    (api_key, api_secret, passphrase): (&str, &str, &str),
) -> Result<Option<CredentialsFile>, (String, String)> {
    let Some(parsed) = load_file(section, file, (api_key, api_secret))? else {
        return Ok(None);
    };
    match parsed.passphrase.as_deref() {
        Some(_) if !passphrase.is_empty() => Err((
            format!("{section}.credentials_file"),
            "set the passphrase in either credentials_file or passphrase, not both".into(),
        )),
        Some("") => Err((
            format!("{section}.credentials_file"),
            format!("`{file}` has an empty passphrase"),
        )),
        _ => Ok(Some(parsed)),
    }
}

fn load_file(
    section: &str,
    file: &str,
    (api_key, api_secret): (&str, &str),
) -> Result<Option<CredentialsFile>, (String, String)> {
    if file.is_empty() {
        return Ok(None);
    }
    let key = format!("{section}.credentials_file");
    if !api_key.is_empty() || !api_secret.is_empty() {
        return Err((
            key,
            "set either credentials_file or api_key and api_secret, not both".into(),
        ));
    }
    read(Path::new(file))
        .map(Some)
        .map_err(|message| (key, message))
}

fn read(path: &Path) -> Result<CredentialsFile, String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    private(&metadata).map_err(|mode| {
        format!("`{shown}` is readable by group or others (mode {mode:o}); make it 0600")
    })?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    // The parser's message may quote the file, secrets included: it is
    // not passed on.
    let parsed: CredentialsFile = toml::from_str(&text).map_err(|_| {
        format!("`{shown}` is not a TOML file with just api_key and api_secret (and passphrase)")
    })?;
    if parsed.api_key.is_empty() || parsed.api_secret.is_empty() {
        return Err(format!("`{shown}` has an empty api_key or api_secret"));
    }
    Ok(parsed)
}

/// `Err(mode)` when group or others may read or write the file.
#[cfg(unix)]
fn private(metadata: &std::fs::Metadata) -> Result<(), u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 == 0 { Ok(()) } else { Err(mode) }
}

/// Other systems have no mode bits to check.
#[cfg(not(unix))]
fn private(_: &std::fs::Metadata) -> Result<(), u32> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(mode: u32, text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("binance.toml");
        std::fs::write(&path, text).expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        }
        let shown = path.display().to_string();
        (dir, shown)
    }

    #[test]
    fn a_private_file_is_read_and_an_open_one_refused() {
        let text = "api_key = \"k1\"\napi_secret = \"s1\"\n";
        let (_dir, path) = file_with(0o600, text);
        let section = "exchanges.binance.accounts.a";
        assert_eq!(
            load(section, &path, ("", "")),
            Ok(Some(("k1".into(), "s1".into())))
        );
        let both = load(section, &path, ("k", ""));
        assert!(matches!(both, Err((ref key, _)) if key.ends_with("a.credentials_file")));
        if cfg!(unix) {
            let (_open, path) = file_with(0o640, text);
            let refused = load(section, &path, ("", ""));
            assert!(
                matches!(refused, Err((ref key, ref m)) if key == "exchanges.binance.accounts.a.credentials_file" && m.contains("640")),
                "{refused:?}"
            );
        }
        let (_bad, path) = file_with(0o600, "api_key = \"k1\"\n");
        let refused = load(section, &path, ("", ""));
        assert!(
            matches!(refused, Err((_, ref m)) if !m.contains("k1")),
            "{refused:?}"
        );
        assert_eq!(load(section, "", ("k", "s")), Ok(None));
    }

    #[test]
    fn a_passphrase_comes_from_the_file_only_where_the_venue_signs_with_one() {
        let text = "api_key = \"k1\"\napi_secret = \"s1\"\npassphrase = \"p1\"\n";
        let (_dir, path) = file_with(0o600, text);
        let section = "exchanges.okx";
        assert_eq!(
            load_with_passphrase(section, &path, ("", "", "")),
            Ok(Some(CredentialsFile {
                api_key: "k1".into(),
                api_secret: "s1".into(),
                passphrase: Some("p1".into())
            }))
        );
        let both = load_with_passphrase(section, &path, ("", "", "p0"));
        assert!(matches!(both, Err((ref key, _)) if key == "exchanges.okx.credentials_file"));
        let refused = load("exchanges.binance", &path, ("", ""));
        assert!(
            matches!(refused, Err((_, ref m)) if m.contains("passphrase") && !m.contains("p1")),
            "{refused:?}"
        );
        let (_two, path) = file_with(0o600, "api_key = \"k1\"\napi_secret = \"s1\"\n");
        assert_eq!(
            load_with_passphrase(section, &path, ("", "", "p0")),
            Ok(Some(CredentialsFile {
                api_key: "k1".into(),
                api_secret: "s1".into(),
                passphrase: None
            }))
        );
    }
}
