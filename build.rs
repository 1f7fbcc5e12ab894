//! Compiles `proto/` with protox (no system `protoc`), generates the tonic
//! services, writes the encoded descriptor set that server reflection
//! serves, the lowercase word of every enum value, and the size limits of
//! every request.

#[path = "build/limits.rs"]
mod limits;

use std::{env, fmt::Write, fs, io, path::PathBuf};

fn main() -> io::Result<()> {
    let proto_dir = PathBuf::from("proto/tradeplane/v1");
    let mut protos: Vec<PathBuf> = fs::read_dir(&proto_dir)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "proto"))
        .collect();
    protos.sort();

    let mut compiler = protox::Compiler::new(["proto"]).map_err(io::Error::other)?;
    compiler.include_imports(true).include_source_info(true);
    for proto in &protos {
        let relative = proto.strip_prefix("proto").map_err(io::Error::other)?;
        compiler.open_file(relative).map_err(io::Error::other)?;
        println!("cargo:rerun-if-changed={}", proto.display());
    }
    println!("cargo:rerun-if-changed=proto");

    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(io::Error::other)?);
    fs::write(
        out_dir.join("tradeplane_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    fs::write(out_dir.join("enum_words.rs"), enum_words(&compiler)?)?;
    fs::write(
        out_dir.join("limits.rs"),
        limits::limits(&compiler.descriptor_pool()).map_err(io::Error::other)?,
    )?;
    println!("cargo:rerun-if-changed=build");

    // Type names (`prost::Name`), so that a client can find a message's
    // descriptor and print it as canonical proto3 JSON.
    let mut config = tonic_prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .emit_rerun_if_changed(false)
        .codec_path("crate::codec::ApiCodec")
        .compile_fds_with_config(compiler.file_descriptor_set(), config)
}

/// `impl ProtoEnum` for every top-level enum of `tradeplane.v1`: each value's
/// name without the enum's prefix (the zero value's name less `UNSPECIFIED`),
/// in lowercase, so `SIDE_BUY` is `buy`. A match on the number, since the
/// Rust variant names are prost's to choose.
fn enum_words(compiler: &protox::Compiler) -> io::Result<String> {
    let mut code = String::new();
    for descriptor in compiler.descriptor_pool().all_enums() {
        if descriptor.package_name() != "tradeplane.v1" || descriptor.parent_message().is_some() {
            continue;
        }
        let zero = descriptor
            .get_value(0)
            .ok_or_else(|| io::Error::other(format!("{} has no zero value", descriptor.name())))?;
        let prefix = zero
            .name()
            .strip_suffix("UNSPECIFIED")
            .ok_or_else(|| io::Error::other(format!("{} must end in UNSPECIFIED", zero.name())))?;
        let word = |name: &str| {
            name.strip_prefix(prefix)
                .map(str::to_lowercase)
                .ok_or_else(|| io::Error::other(format!("{name} must start with {prefix}")))
        };
        let mut arms = String::new();
        for value in descriptor.values().filter(|v| v.number() != 0) {
            writeln!(
                arms,
                "            {} => {:?},",
                value.number(),
                word(value.name())?
            )
            .map_err(io::Error::other)?;
        }
        writeln!(
            code,
            "impl crate::ProtoEnum for {name} {{\n    \
             fn word(self) -> &'static str {{\n        \
             match self as i32 {{\n{arms}            \
             // the zero value: `self` is a variant, so no other number gets here\n            \
             _ => {zero:?},\n        }}\n    }}\n}}",
            name = descriptor.name(),
            zero = word(zero.name())?,
        )
        .map_err(io::Error::other)?;
    }
    Ok(code)
}
