//! Compiles `proto/` with protox (no system `protoc`), generates the tonic
//! services, and writes the encoded descriptor set that server reflection
//! serves.

use std::{env, fs, io, path::PathBuf};

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

    tonic_prost_build::configure()
        .emit_rerun_if_changed(false)
        .compile_fds(compiler.file_descriptor_set())
}
