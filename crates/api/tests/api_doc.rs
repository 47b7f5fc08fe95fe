//! docs/api.md is generated from the .proto files (their comments are the reference): this
//! test regenerates it and fails when the committed file differs, so the document cannot fall
//! behind the API. `UPDATE_API_DOC=1 cargo test -p evpnd-api --test api_doc` rewrites it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::source_code_info::Location;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, FieldDescriptorProto, FileDescriptorProto,
};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Field numbers of FileDescriptorProto / DescriptorProto / ServiceDescriptorProto /
/// EnumDescriptorProto used in source-code-info paths (descriptor.proto).
const FILE_MESSAGE: i32 = 4;
const FILE_ENUM: i32 = 5;
const FILE_SERVICE: i32 = 6;
const MESSAGE_FIELD: i32 = 2;
const MESSAGE_NESTED: i32 = 3;
const MESSAGE_ENUM: i32 = 4;
const SERVICE_METHOD: i32 = 2;
const ENUM_VALUE: i32 = 2;

fn proto_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("proto")
}

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md")
}

/// The comments of one file, by source path.
struct Comments(HashMap<Vec<i32>, String>);

impl Comments {
    fn of(file: &FileDescriptorProto) -> Comments {
        let mut map = HashMap::new();
        for Location {
            path,
            leading_comments,
            trailing_comments,
            ..
        } in file
            .source_code_info
            .as_ref()
            .map(|s| s.location.clone())
            .unwrap_or_default()
        {
            let text = leading_comments
                .or(trailing_comments)
                .unwrap_or_default()
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
                .trim()
                .to_string();
            if !text.is_empty() {
                map.insert(path, text);
            }
        }
        Comments(map)
    }

    fn get(&self, path: &[i32]) -> &str {
        self.0.get(path).map(String::as_str).unwrap_or("")
    }
}

/// A type name as written in the .proto (package prefix dropped).
fn short(type_name: &str) -> &str {
    type_name.trim_start_matches(".evpnd.v1.")
}

fn field_type(f: &FieldDescriptorProto) -> String {
    let base = match f.r#type() {
        Type::Message | Type::Enum => short(f.type_name()).to_string(),
        t => format!("{t:?}").trim_start_matches("Type").to_lowercase(),
    };
    match f.label() {
        Label::Repeated => format!("repeated {base}"),
        _ if f.proto3_optional() => format!("optional {base}"),
        _ => base,
    }
}

/// Table cells may not contain `|` or line breaks.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

fn message(out: &mut String, c: &Comments, m: &DescriptorProto, name: &str, path: &[i32]) {
    // Map entries are shown as map<K, V> at their field; no section of their own.
    if m.options.as_ref().is_some_and(|o| o.map_entry()) {
        return;
    }
    writeln!(out, "### {name}\n").unwrap();
    let doc = c.get(path);
    if !doc.is_empty() {
        writeln!(out, "{doc}\n").unwrap();
    }
    if m.field.is_empty() {
        writeln!(out, "(no fields)\n").unwrap();
    } else {
        writeln!(out, "| field | # | type | meaning |\n|---|---|---|---|").unwrap();
        for (i, f) in m.field.iter().enumerate() {
            let mut fp = path.to_vec();
            fp.extend([MESSAGE_FIELD, i as i32]);
            writeln!(
                out,
                "| `{}` | {} | `{}` | {} |",
                f.name(),
                f.number(),
                field_type(f),
                cell(c.get(&fp))
            )
            .unwrap();
        }
        writeln!(out).unwrap();
    }
    for (i, e) in m.enum_type.iter().enumerate() {
        let mut ep = path.to_vec();
        ep.extend([MESSAGE_ENUM, i as i32]);
        enumeration(out, c, e, &format!("{name}.{}", e.name()), &ep);
    }
    for (i, n) in m.nested_type.iter().enumerate() {
        let mut np = path.to_vec();
        np.extend([MESSAGE_NESTED, i as i32]);
        message(out, c, n, &format!("{name}.{}", n.name()), &np);
    }
}

fn enumeration(out: &mut String, c: &Comments, e: &EnumDescriptorProto, name: &str, path: &[i32]) {
    writeln!(out, "### enum {name}\n").unwrap();
    let doc = c.get(path);
    if !doc.is_empty() {
        writeln!(out, "{doc}\n").unwrap();
    }
    writeln!(out, "| value | # | meaning |\n|---|---|---|").unwrap();
    for (i, v) in e.value.iter().enumerate() {
        let mut vp = path.to_vec();
        vp.extend([ENUM_VALUE, i as i32]);
        writeln!(
            out,
            "| `{}` | {} | {} |",
            v.name(),
            v.number(),
            cell(c.get(&vp))
        )
        .unwrap();
    }
    writeln!(out).unwrap();
}

/// The whole reference, one section per .proto file.
fn render() -> String {
    let mut files: Vec<String> = std::fs::read_dir(proto_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".proto"))
        .collect();
    files.sort();
    let set = protox::compile(&files, [proto_dir()]).unwrap();
    let mut out = String::from(
        "# evpnd gRPC API reference\n\n\
         Generated from `crates/api/proto/*.proto` by `crates/api/tests/api_doc.rs` (do not edit by\n\
         hand: `UPDATE_API_DOC=1 cargo test -p evpnd-api --test api_doc` regenerates it, and the\n\
         test fails while this file and the .proto files disagree). Package `evpnd.v1`; the daemon\n\
         serves it on a unix socket (mode 0600, default `unix:/run/evpnd/api.sock`) or TCP\n\
         (`[api]` in [configuration.md](configuration.md)). Errors are gRPC statuses:\n\
         `INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS` and `FAILED_PRECONDITION`, each with a\n\
         message that starts with the name of the offending field.\n\n",
    );
    for file in set
        .file
        .iter()
        .filter(|f| files.iter().any(|n| n == f.name()))
    {
        let c = Comments::of(file);
        writeln!(out, "## {}\n", file.name()).unwrap();
        for (s, service) in file.service.iter().enumerate() {
            writeln!(out, "### service {}\n", service.name()).unwrap();
            let doc = c.get(&[FILE_SERVICE, s as i32]);
            if !doc.is_empty() {
                writeln!(out, "{doc}\n").unwrap();
            }
            writeln!(
                out,
                "| rpc | request | response | what it does |\n|---|---|---|---|"
            )
            .unwrap();
            for (m, method) in service.method.iter().enumerate() {
                let stream = |yes: bool| if yes { "stream " } else { "" };
                writeln!(
                    out,
                    "| `{}` | `{}{}` | `{}{}` | {} |",
                    method.name(),
                    stream(method.client_streaming()),
                    short(method.input_type()),
                    stream(method.server_streaming()),
                    short(method.output_type()),
                    cell(c.get(&[FILE_SERVICE, s as i32, SERVICE_METHOD, m as i32]))
                )
                .unwrap();
            }
            writeln!(out).unwrap();
        }
        for (i, m) in file.message_type.iter().enumerate() {
            message(&mut out, &c, m, m.name(), &[FILE_MESSAGE, i as i32]);
        }
        for (i, e) in file.enum_type.iter().enumerate() {
            enumeration(&mut out, &c, e, e.name(), &[FILE_ENUM, i as i32]);
        }
    }
    out
}

#[test]
fn api_reference_is_generated_from_the_proto_files() {
    let generated = render();
    let path = doc_path();
    if std::env::var_os("UPDATE_API_DOC").is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/api.md is out of date with crates/api/proto: run \
         `UPDATE_API_DOC=1 cargo test -p evpnd-api --test api_doc` and commit it"
    );
}

#[test]
fn every_rpc_and_message_is_in_the_reference() {
    let generated = render();
    for rpc in ["ListNeighbors", "ListRoutes", "AttachEndpoint", "ListVnis"] {
        assert!(generated.contains(&format!("| `{rpc}` |")), "{rpc} missing");
    }
    assert!(generated.contains("### AttachEndpointRequest"));
}
