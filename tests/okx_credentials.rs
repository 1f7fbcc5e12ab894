//! OKX's three credentials from one 0600 file, through the real binary
//! and the OKX mock: the key, the secret and the passphrase are read from
//! `credentials_file`, every request is signed with them, and none of
//! them reaches the log.

use tradeplane_api::*;
use tradeplane_client::Client;
use tradeplane_e2e::{
    conformance::order_on,
    mock_okx::{API_KEY, API_SECRET, MockOkx, PASSPHRASE},
    place_order, serve_async,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_passphrase_comes_from_the_credentials_file_with_the_key_and_secret() {
    use std::os::unix::fs::PermissionsExt;
    let okx = MockOkx::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("okx.toml");
    std::fs::write(
        &file,
        format!("api_key = \"{API_KEY}\"\napi_secret = \"{API_SECRET}\"\npassphrase = \"{PASSPHRASE}\"\n"),
    )
    .expect("write the credentials file");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let file = file.display().to_string();
    let env = [
        ("TRADEPLANE_EXCHANGES__OKX__ENABLED", "true"),
        ("TRADEPLANE_EXCHANGES__OKX__BASE_URL", okx.url.as_str()),
        ("TRADEPLANE_EXCHANGES__OKX__CREDENTIALS_FILE", file.as_str()),
    ];
    let data_dir = dir.path().join("data");
    let served = serve_async(&data_dir, &env).await;
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client connects");
    let placed = place_order(
        &client,
        order_on::<MockOkx>("from-file", Side::Buy, "0.001", None),
    )
    .await;
    assert_eq!(placed.status, OrderStatus::Filled as i32, "{placed:?}");
    assert_eq!(okx.refused_signatures(), 0, "signed with the file's three");
    served.kill();
    let log = std::fs::read_to_string(dir.path().join("data.log")).expect("server log");
    assert!(log.contains("okx"), "the log is the server's");
    for secret in [API_KEY, API_SECRET, PASSPHRASE] {
        assert!(!log.contains(secret), "a credential reached the log");
    }
}
