//! The deployment examples under `deploy/` agree with the server. The
//! Kubernetes manifests and the compose file of two replicas on PostgreSQL
//! are parsed; each replica's arguments and `TRADEPLANE_*` variables go
//! through the server's own `Config::load`, and the ports, probes,
//! selectors, secrets and proxy routes are checked against the
//! configuration the server would run with. No cluster or Docker is needed.

use std::{
    collections::{BTreeSet, HashMap},
    path::{Path, PathBuf},
    time::Duration,
};

use serde_yaml_ng::Value;
use tradeplane_server::{
    app::READINESS_SERVICE,
    config::{Config, FlagOverrides},
};

/// Where the server lists the short environment names (`ENV_ALIASES`).
const CONFIG_RS: &str = include_str!("../server/src/config.rs");
/// Where the server routes `/healthz` and `/readyz`.
const APP_RS: &str = include_str!("../server/src/app.rs");

fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every YAML document (separated by `---` lines) of every file under
/// `deploy/kubernetes/`.
fn manifests() -> Vec<Value> {
    let dir = std::fs::read_dir(deploy_dir().join("kubernetes")).expect("deploy/kubernetes");
    let mut paths: Vec<PathBuf> = dir.flatten().map(|entry| entry.path()).collect();
    paths.retain(|path| path.extension().is_some_and(|ext| ext == "yaml"));
    paths.sort();
    let mut docs = Vec::new();
    for path in paths {
        for text in read(&path).split("\n---") {
            let doc: Result<Value, _> = serde_yaml_ng::from_str(text);
            let doc = doc.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            docs.extend(Some(doc).filter(|doc| !doc.is_null()));
        }
    }
    docs
}

/// The one manifest of `kind`.
fn the<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let mut found = docs.iter().filter(|d| d["kind"].as_str() == Some(kind));
    let first = found.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(found.next().is_none(), "more than one {kind}");
    first
}

fn text(value: &Value) -> &str {
    value.as_str().expect("a string")
}

fn seq(value: &Value) -> &[Value] {
    value.as_sequence().expect("a list")
}

fn number(value: &Value) -> u64 {
    value.as_u64().expect("a number")
}

fn strings(value: &Value) -> Vec<String> {
    seq(value).iter().map(|v| text(v).to_string()).collect()
}

/// Fails unless every label of `selector` is on the pods.
fn assert_selects(selector: &Value, pod_labels: &Value, what: &str) {
    let selector = selector.as_mapping().expect("a selector");
    assert!(!selector.is_empty(), "{what} selects something");
    for (key, value) in selector {
        assert_eq!(&pod_labels[key], value, "{what} selects {key:?}");
    }
}

/// Fails unless the server reads the variable `name`: a short name listed
/// in `ENV_ALIASES`, or `TRADEPLANE_<SECTION>__<KEY>` (whose key
/// `Config::load` then checks).
fn assert_known_env(name: &str) {
    let (_, aliases) = CONFIG_RS.split_once("const ENV_ALIASES").expect("aliases");
    let (aliases, _) = aliases.split_once("];").expect("the aliases' end");
    let sectioned = name.starts_with("TRADEPLANE_") && name.contains("__");
    let known = sectioned || aliases.contains(&format!("\"{name}\""));
    assert!(known, "the server does not read {name}");
}

/// The configuration `tradeplane <args>` runs with in `env`, loaded by the
/// server itself (so a bad value or an unknown key fails here too). The
/// examples set everything through variables, which this test checks.
fn effective_config(args: &[String], env: &HashMap<String, String>) -> Config {
    assert_eq!(args, ["serve"], "configure through TRADEPLANE_* variables");
    env.keys().for_each(|name| assert_known_env(name));
    let flags = FlagOverrides::default();
    let config = Config::load(&flags, env).unwrap_or_else(|e| panic!("the server refuses: {e}"));
    for addr in [config.grpc_listen, config.http_listen] {
        assert!(addr.ip().is_unspecified(), "{addr}: not reachable");
    }
    config
}

/// What a probe asks for, as `grpc PORT SERVICE` or `http PORT PATH`;
/// `port_of` turns a port number or name into a number.
fn probe(value: &Value, port_of: impl Fn(&Value) -> u64) -> String {
    let grpc = &value["grpc"];
    if grpc.is_mapping() {
        let service = grpc["service"].as_str().unwrap_or_default();
        return format!("grpc {} {service}", number(&grpc["port"]));
    }
    let path = text(&value["httpGet"]["path"]);
    let routed = APP_RS.contains(&format!(".route(\"{path}\""));
    assert!(routed, "the server has no {path}");
    format!("http {} {path}", port_of(&value["httpGet"]["port"]))
}

#[test]
fn kubernetes_manifests_match_the_server() {
    let docs = manifests();
    let deployment = &the(&docs, "Deployment")["spec"];
    assert_eq!(number(&deployment["replicas"]), 2, "two replicas");
    let pod = &deployment["template"];
    let labels = &pod["metadata"]["labels"];
    let selector = &deployment["selector"]["matchLabels"];
    assert_selects(selector, labels, "the Deployment");
    let [container] = seq(&pod["spec"]["containers"]) else {
        panic!("one container")
    };

    // The environment, each secretKeyRef read from the Secret manifest.
    let secret = the(&docs, "Secret");
    let mut env = HashMap::new();
    for var in seq(&container["env"]) {
        let name = text(&var["name"]);
        let from = &var["valueFrom"]["secretKeyRef"];
        let value = if from.is_mapping() {
            assert_eq!(from["name"], secret["metadata"]["name"], "{name}'s Secret");
            let key = text(&from["key"]);
            let value = secret["stringData"][key].as_str();
            value.unwrap_or_else(|| panic!("{name}: the Secret has no {key}"))
        } else {
            text(&var["value"])
        };
        env.insert(name.to_string(), value.to_string());
    }
    let config = effective_config(&strings(&container["args"]), &env);
    let grpc = u64::from(config.grpc_listen.port());
    let http = u64::from(config.http_listen.port());
    let defaults = Config::default();
    let defaults = [defaults.grpc_listen.port(), defaults.http_listen.port()];
    assert_eq!([grpc, http], defaults.map(u64::from), "default ports");

    let ports: HashMap<&str, u64> = seq(&container["ports"])
        .iter()
        .map(|port| (text(&port["name"]), number(&port["containerPort"])))
        .collect();
    assert_eq!(ports.get("grpc"), Some(&grpc), "the container's grpc port");
    assert_eq!(ports.get("http"), Some(&http), "the container's http port");
    let port_of = |v: &Value| match v.as_str() {
        Some(name) => *ports.get(name).expect("a container port's name"),
        None => number(v),
    };

    let ready = [
        format!("grpc {grpc} {READINESS_SERVICE}"),
        format!("http {http} /readyz"),
    ];
    let live = [format!("grpc {grpc} "), format!("http {http} /healthz")];
    let readiness = probe(&container["readinessProbe"], port_of);
    assert!(ready.contains(&readiness), "readiness asks {readiness}");
    let liveness = probe(&container["livenessProbe"], port_of);
    assert!(live.contains(&liveness), "liveness asks {liveness}");
    if !container["startupProbe"].is_null() {
        let startup = probe(&container["startupProbe"], port_of);
        let known = ready.contains(&startup) || live.contains(&startup);
        assert!(known, "startup asks {startup}");
    }

    // Shutdown: readiness is seen NOT_SERVING before the ports close, and
    // Kubernetes waits out the drain and the in-flight calls before SIGKILL.
    let seconds = |v: &Value, default| Duration::from_secs(v.as_u64().unwrap_or(default));
    let period = seconds(&container["readinessProbe"]["periodSeconds"], 10);
    assert!(config.drain_delay > period, "drain_delay too short");
    let grace = seconds(&pod["spec"]["terminationGracePeriodSeconds"], 30);
    let needed = config.drain_delay + config.shutdown_timeout;
    assert!(grace > needed, "terminationGracePeriodSeconds < {needed:?}");

    let service = &the(&docs, "Service")["spec"];
    assert_selects(&service["selector"], labels, "the Service");
    let targets = seq(&service["ports"]).iter();
    let targets: BTreeSet<u64> = targets.map(|p| port_of(&p["targetPort"])).collect();
    assert_eq!(targets, BTreeSet::from([grpc, http]), "targets");

    let budget = &the(&docs, "PodDisruptionBudget")["spec"];
    assert_selects(&budget["selector"]["matchLabels"], labels, "the budget");
    assert_eq!(number(&budget["minAvailable"]), 1, "minAvailable");
}

/// The compose file with every `${…}` (a variable given at `up`) replaced by
/// one URL-safe value.
fn interpolate(text: &str) -> String {
    let mut parts = text.split("${");
    let mut out = parts.next().unwrap_or_default().to_string();
    for part in parts {
        let (_variable, rest) = part.split_once('}').expect("a closing brace");
        out += "given-at-up-0123456789abcdef0123456789";
        out += rest;
    }
    out
}

/// The `server HOST:PORT` lines of each nginx `upstream NAME { … }` block.
fn upstreams(conf: &str) -> HashMap<String, BTreeSet<String>> {
    let mut found: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut current = String::new();
    for line in conf.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if let Some(name) = line.strip_prefix("upstream ") {
            current = name.trim_end_matches('{').trim().to_string();
        } else if line == "}" {
            current.clear();
        } else if let Some(server) = line.strip_prefix("server ").filter(|_| !current.is_empty()) {
            let addr = server.split([' ', ';']).next().unwrap_or_default();
            let servers = found.entry(current.clone()).or_default();
            servers.insert(addr.into());
        }
    }
    found
}

/// The upstream named by the `directive scheme://NAME;` line.
fn passed_to<'a>(conf: &'a str, directive: &str) -> &'a str {
    let line = conf.lines().find_map(|l| l.trim().strip_prefix(directive));
    line.expect(directive).trim_end_matches(';')
}

#[test]
fn compose_replicas_share_postgres_behind_the_proxy() {
    let file = interpolate(&read(&deploy_dir().join("docker-compose.replicas.yml")));
    let file: Value = serde_yaml_ng::from_str(&file).expect("the compose file is YAML");
    let services = file["services"].as_mapping().expect("services");

    // The replicas: the services given a database URL.
    let mut urls = BTreeSet::new();
    let (mut grpc_routes, mut http_routes) = (BTreeSet::new(), BTreeSet::new());
    for (name, service) in services {
        let environment = service["environment"].as_mapping().into_iter().flatten();
        let env: HashMap<String, String> = environment
            .map(|(k, v)| (text(k).into(), text(v).into()))
            .collect();
        if env.contains_key("TRADEPLANE_DATABASE_URL") {
            let config = effective_config(&strings(&service["command"]), &env);
            urls.insert(config.database_url.clone());
            grpc_routes.insert(format!("{}:{}", text(name), config.grpc_listen.port()));
            http_routes.insert(format!("{}:{}", text(name), config.http_listen.port()));
        }
    }
    assert_eq!(grpc_routes.len(), 2, "two replicas");
    assert_eq!(urls.len(), 1, "both replicas use one database URL");

    // That URL names the PostgreSQL service, its user, password and database.
    let url = url::Url::parse(urls.first().expect("a URL")).expect("a database URL");
    assert_eq!(url.scheme(), "postgres");
    let host = url.host_str().expect("a database host");
    let postgres = &file["services"][host];
    assert!(text(&postgres["image"]).starts_with("postgres:"), "{host}");
    let postgres = &postgres["environment"];
    assert_eq!(url.port().unwrap_or(5432), 5432, "PostgreSQL's port");
    assert_eq!(url.username(), text(&postgres["POSTGRES_USER"]));
    assert_eq!(url.password(), Some(text(&postgres["POSTGRES_PASSWORD"])));
    assert_eq!(url.path(), format!("/{}", text(&postgres["POSTGRES_DB"])));

    // The proxy sends HTTP/1.1 and gRPC (HTTP/2) to every replica.
    let nginx = |s: &&Value| s["image"].as_str().is_some_and(|i| i.starts_with("nginx"));
    let proxy = services.values().find(nginx).expect("an nginx proxy");
    let mounts = strings(&proxy["volumes"]);
    let mounted = mounts.iter().any(|m| m.starts_with("./nginx.conf:"));
    assert!(mounted, "the proxy loads nginx.conf");
    let conf = read(&deploy_dir().join("nginx.conf"));
    assert!(conf.contains("http2 on;"), "gRPC needs HTTP/2");
    let upstreams = upstreams(&conf);
    let grpc = upstreams.get(passed_to(&conf, "grpc_pass grpc://"));
    assert_eq!(grpc, Some(&grpc_routes), "gRPC to both replicas");
    let http = upstreams.get(passed_to(&conf, "proxy_pass http://"));
    assert_eq!(http, Some(&http_routes), "HTTP to both replicas");
}
