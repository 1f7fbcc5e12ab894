//! Generates `impl Limited` for every message of `tradeplane.v1`: the size
//! limits of `limits.proto` (field options, or the defaults it documents),
//! checked field by field and into nested messages, oneofs and maps.

use std::fmt::Write;

use protox::prost_reflect::{
    DescriptorPool, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor, Value,
};

/// The defaults documented in `limits.proto`.
const MAX_LENGTH: u32 = 256;
const MAX_COUNT: u32 = 100;
const MAX_MAP_ENTRIES: u32 = 64;
const MAX_KEY_LENGTH: u32 = 64;

/// The generated impls.
pub fn limits(pool: &DescriptorPool) -> Result<String, String> {
    let option = |name: &str| {
        pool.get_extension_by_name(name)
            .ok_or_else(|| format!("{name} is not defined"))
    };
    let options = Options {
        max_length: option("tradeplane.v1.max_length")?,
        max_count: option("tradeplane.v1.max_count")?,
    };
    let mut code = String::new();
    for message in pool.all_messages() {
        if message.package_name() != "tradeplane.v1" || message.is_map_entry() {
            continue;
        }
        let mut body = String::new();
        for field in message.fields() {
            body += &options.check_field(&field);
        }
        for oneof in message.oneofs() {
            if oneof.is_synthetic() {
                return Err(format!(
                    "{}: proto3 optional fields have no limits check yet",
                    message.full_name()
                ));
            }
            let enum_path = format!("{}::{}", module_path(&message), camel(oneof.name()));
            let mut arms = String::new();
            for field in oneof.fields() {
                let check = options.check_value(&field, "value");
                if !check.is_empty() {
                    writeln!(
                        arms,
                        "            Some({enum_path}::{}(value)) => {{ {check} }}",
                        camel(field.name()),
                    )
                    .map_err(|e| e.to_string())?;
                }
            }
            if !arms.is_empty() {
                writeln!(
                    body,
                    "        match &self.{} {{\n{arms}            _ => {{}}\n        }}",
                    rust_field(oneof.name())
                )
                .map_err(|e| e.to_string())?;
            }
        }
        let request = message.parent_message().is_none() && message.name().ends_with("Request");
        let unused = if body.is_empty() { "_" } else { "" };
        writeln!(
            code,
            "impl crate::limits::Limited for {path} {{\n    const REQUEST: bool = {request};\n    \
             fn check_limits(&self, {unused}at: &str, {unused}out: &mut crate::limits::Violations) {{\n{body}    }}\n}}",
            path = rust_path(&message),
        )
        .map_err(|e| e.to_string())?;
    }
    Ok(code)
}

struct Options {
    max_length: ExtensionDescriptor,
    max_count: ExtensionDescriptor,
}

impl Options {
    fn get(&self, field: &FieldDescriptor, option: &ExtensionDescriptor, default: u32) -> u32 {
        let options = field.options();
        if !options.has_extension(option) {
            return default;
        }
        match options.get_extension(option).as_ref() {
            Value::U32(value) => *value,
            _ => default,
        }
    }

    /// The check of a field outside any oneof.
    fn check_field(&self, field: &FieldDescriptor) -> String {
        if field.containing_oneof().is_some() {
            return String::new();
        }
        let name = rust_field(field.name());
        let proto_name = field.name();
        if field.is_map() {
            let Kind::Message(entry) = field.kind() else {
                return String::new();
            };
            let value = entry.map_entry_value_field();
            let count = self.get(field, &self.max_count, MAX_MAP_ENTRIES);
            let length = self.get(field, &self.max_length, MAX_LENGTH);
            let key_check = if entry.map_entry_key_field().kind() == Kind::String {
                format!("crate::limits::text(key, {MAX_KEY_LENGTH}, at, {proto_name:?}, out);")
            } else {
                String::new()
            };
            let value_check = match value.kind() {
                Kind::String => {
                    format!("crate::limits::text(value, {length}, at, {proto_name:?}, out);")
                }
                Kind::Message(m) if m.package_name() == "tradeplane.v1" => format!(
                    "crate::limits::Limited::check_limits(value, &crate::limits::join(at, {proto_name:?}), out);"
                ),
                _ => String::new(),
            };
            return format!(
                "        crate::limits::count(self.{name}.len(), {count}, at, {proto_name:?}, out);\n        \
                 for (key, value) in &self.{name} {{ let _ = (&key, &value); {key_check} {value_check} }}\n"
            );
        }
        if field.is_list() {
            let count = self.get(field, &self.max_count, MAX_COUNT);
            let each = self.check_value(field, "value");
            let check = format!(
                "        crate::limits::count(self.{name}.len(), {count}, at, {proto_name:?}, out);\n"
            );
            if each.is_empty() {
                return check;
            }
            return check + &format!("        for value in &self.{name} {{ {each} }}\n");
        }
        let check = match field.kind() {
            Kind::Message(_) => self.check_value(field, "value"),
            _ => self.check_value(field, &format!("&self.{name}")),
        };
        match field.kind() {
            _ if check.is_empty() => String::new(),
            Kind::Message(_) => {
                format!("        if let Some(value) = &self.{name} {{ {check} }}\n")
            }
            _ => format!("        {check}\n"),
        }
    }

    /// The check of one value of `field` (a string or a tradeplane
    /// message), held in `value`.
    fn check_value(&self, field: &FieldDescriptor, value: &str) -> String {
        let name = field.name();
        match field.kind() {
            Kind::String => format!(
                "crate::limits::text({value}, {}, at, {name:?}, out);",
                self.get(field, &self.max_length, MAX_LENGTH)
            ),
            Kind::Message(m) if m.package_name() == "tradeplane.v1" => format!(
                "crate::limits::Limited::check_limits({value}, &crate::limits::join(at, {name:?}), out);"
            ),
            _ => String::new(),
        }
    }
}

/// The Rust path of a message's type, from the package's module.
fn rust_path(message: &MessageDescriptor) -> String {
    match message.parent_message() {
        Some(parent) => format!("{}::{}", module_path(&parent), message.name()),
        None => message.name().to_string(),
    }
}

/// The module prost puts a message's nested types and oneofs in.
fn module_path(message: &MessageDescriptor) -> String {
    match message.parent_message() {
        Some(parent) => format!("{}::{}", module_path(&parent), snake(message.name())),
        None => snake(message.name()),
    }
}

fn camel(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A field's name as prost writes it (raw when it is a keyword).
fn rust_field(name: &str) -> String {
    match name {
        "type" | "match" | "ref" | "mod" | "fn" | "in" | "loop" | "move" | "use" | "where" => {
            format!("r#{name}")
        }
        _ => name.to_string(),
    }
}
