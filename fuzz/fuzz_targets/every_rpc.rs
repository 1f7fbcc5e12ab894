//! Any bytes as the request of any RPC, sent to one real server on
//! loopback: the first byte picks the RPC from the descriptor set (so a
//! new RPC is fuzzed without editing this file), the rest is the message.
//! Every decode, size check, proto→domain conversion and handler runs;
//! an answer INTERNAL or UNKNOWN, or a panic anywhere, is a crash.
#![no_main]

use std::sync::OnceLock;

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use tonic::{Code, Status, transport::Channel};
use tradeplane_api::codec::call_raw;
use tradeplane_server::{app, config::Config};

/// The bootstrap admin key of the fuzzed server.
const ADMIN_KEY: &str = "tpk_fuzz0000000000000000000000000000000000000000000000000000000000";

struct Target {
    runtime: tokio::runtime::Runtime,
    /// Lives as long as the fuzzing process.
    _server: app::RunningServer,
    channel: Channel,
    paths: Vec<String>,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        let data_dir = std::env::temp_dir().join(format!("tradeplane-fuzz-{}", std::process::id()));
        let mut config = Config {
            grpc_listen: "127.0.0.1:0".parse().expect("an address"),
            http_listen: "127.0.0.1:0".parse().expect("an address"),
            data_dir,
            ..Default::default()
        };
        config.security.admin_key = ADMIN_KEY.into();
        config.security.rate_limits.per_api_key.rate_per_second = 0.0;
        let (server, channel) = runtime.block_on(async {
            let server = app::start(config).await.expect("the server starts");
            let url = format!("http://{}", server.grpc_addr);
            let channel = Channel::from_shared(url).expect("a url").connect().await;
            (server, channel.expect("connects"))
        });
        let pool = prost_reflect::DescriptorPool::decode(tradeplane_api::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set");
        let paths = pool
            .services()
            .flat_map(|service| {
                service
                    .methods()
                    .map(|m| format!("/{}/{}", service.full_name(), m.name()))
                    .collect::<Vec<_>>()
            })
            // Watches wait for events: their decode is fuzzed through the
            // unary RPCs that share their request fields.
            .filter(|path| !path.contains("/Watch"))
            .collect();
        Target {
            runtime,
            _server: server,
            channel,
            paths,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let target = target();
    let path = &target.paths[usize::from(pick) % target.paths.len()];
    let answer = target.runtime.block_on(call(target.channel.clone(), path, Bytes::copy_from_slice(body)));
    if let Err(status) = answer
        && matches!(status.code(), Code::Internal | Code::Unknown)
    {
        panic!("{path} answered {status:?}");
    }
});

async fn call(channel: Channel, path: &str, body: Bytes) -> Result<(), Status> {
    let mut answers = call_raw(channel, path, ADMIN_KEY, body).await?;
    answers.message().await.map(|_| ())
}
