//! Any text as a pipeline file, YAML and JSON: parsed as tpctl parses it,
//! turned into the API message, and compiled as the server compiles a
//! CreatePipeline request.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tradeplane_client::pipeline_file::{FileFormat, PipelineFile};
use tradeplane_server::pipelines::spec::compile;

fuzz_target!(|text: &str| {
    for format in [FileFormat::Yaml, FileFormat::Json] {
        if let Ok(file) = PipelineFile::parse(text, format)
            && let Ok(pipeline) = file.to_proto()
        {
            let _ = compile(pipeline);
        }
    }
});
