//! `belljar inspect`: what a `.wasm`, component or `.cwasm` contains.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use belljar_host::artifact;
use belljar_profile::Target;
use wasmparser::{Parser, Payload};
use wasmtime::component::Component;
use wasmtime::component::types::ComponentItem;
use wit_component::{DecodedWasm, WitPrinter};

use crate::guest;

pub fn inspect(path: &Path) -> Result<String> {
    let bytes = guest::read(path)?;
    let mut out = String::new();
    writeln!(out, "file:     {} ({} bytes)", path.display(), bytes.len())?;
    if bytes.starts_with(&belljar_package::MAGIC) {
        let parts = belljar_package::parse(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        writeln!(
            out,
            "kind:     belljar package (signature not checked here: `belljar verify`)"
        )?;
        out.push_str(&crate::package::describe(&parts.header));
        return Ok(out);
    }
    if let Ok(header) = artifact::header(&bytes) {
        cwasm(&mut out, &bytes, &header)?;
        return Ok(out);
    }
    let bytes = if path.extension().is_some_and(|e| e == "wat") {
        wat::parse_bytes(&bytes)
            .context("not valid WebAssembly text")?
            .into_owned()
    } else {
        bytes
    };
    if Parser::is_component(&bytes) {
        writeln!(out, "kind:     component")?;
    } else if Parser::is_core_wasm(&bytes) {
        writeln!(out, "kind:     core module")?;
    } else {
        anyhow::bail!(
            "{}: not WebAssembly and not a precompiled .cwasm",
            path.display()
        );
    }
    memories(&mut out, &bytes)?;
    // A core module built with wit-bindgen carries its component type in a
    // custom section: show the world of the component `belljar build`
    // encodes from it (decoding the module itself gives an empty world).
    let bytes = if Parser::is_core_wasm(&bytes) && has_component_type(&bytes) {
        writeln!(
            out,
            "component type: embedded (wit-bindgen); as `belljar build` encodes it"
        )?;
        belljar_build::componentize(&bytes)?
    } else {
        bytes
    };
    match wit_component::decode(&bytes) {
        Ok(DecodedWasm::Component(resolve, world)) => {
            writeln!(out, "world (imports and exports, as WIT):")?;
            wit(
                &mut out,
                &resolve,
                resolve.worlds[world].package.expect("world package"),
            )?;
        }
        Ok(DecodedWasm::WitPackage(resolve, pkg)) => {
            writeln!(out, "WIT package:")?;
            wit(&mut out, &resolve, pkg)?;
        }
        Err(_) => core_items(&mut out, &bytes)?,
    }
    Ok(out)
}

/// Whether a core module has a `component-type` custom section.
fn has_component_type(bytes: &[u8]) -> bool {
    Parser::new(0).parse_all(bytes).any(|payload| {
        matches!(payload, Ok(Payload::CustomSection(section)) if section.name().starts_with("component-type"))
    })
}

fn cwasm(out: &mut String, bytes: &[u8], header: &artifact::Header<'_>) -> Result<()> {
    let kind = match header.kind {
        artifact::Kind::Component => "precompiled component (.cwasm)",
        artifact::Kind::Module => "precompiled core module (.cwasm)",
    };
    writeln!(out, "kind:     {kind}")?;
    match header.target {
        Some(t) => writeln!(
            out,
            "target:   {t} ({})",
            if t == Target::Pulley32 {
                "microcontrollers"
            } else {
                "64-bit desktops"
            }
        )?,
        None => writeln!(
            out,
            "target:   native code for {} (not usable by belljar)",
            header.triple
        )?,
    }
    writeln!(
        out,
        "wasmtime: {} (this belljar uses {})",
        header.wasmtime_version,
        belljar_profile::WASMTIME_VERSION
    )?;
    // The types can only be read back by an engine of the same flavour.
    let Some(target) = header.target.filter(|t| *t == Target::host()) else {
        writeln!(
            out,
            "(imports and exports are shown for {} artifacts on this machine)",
            Target::host()
        )?;
        return Ok(());
    };
    let engine = belljar_profile::engine(target)?;
    // SAFETY: inspecting a local file the user named; nothing is executed.
    let component = match unsafe { Component::deserialize(&engine, bytes) } {
        Ok(c) => c,
        Err(e) => {
            writeln!(
                out,
                "profile:  does not match this belljar's engine profile: {e}"
            )?;
            return Ok(());
        }
    };
    writeln!(
        out,
        "profile:  matches this belljar's engine profile (v{})",
        belljar_profile::PROFILE_VERSION
    )?;
    if let Some(res) = component.resources_required() {
        let initial = res
            .max_initial_memory_size
            .map_or("none".to_string(), |s| s.to_string());
        writeln!(
            out,
            "memory:   {} linear memories, largest initial size {initial} pages",
            res.num_memories
        )?;
    }
    let ty = component.component_type();
    writeln!(out, "imports:")?;
    for (name, item) in ty.imports(&engine) {
        writeln!(out, "  {name}{}", describe(&engine, &item.ty))?;
    }
    writeln!(out, "exports:")?;
    for (name, item) in ty.exports(&engine) {
        writeln!(out, "  {name}{}", describe(&engine, &item.ty))?;
    }
    Ok(())
}

fn describe(engine: &wasmtime::Engine, item: &ComponentItem) -> String {
    match item {
        ComponentItem::ComponentFunc(f) => func_sig(f),
        ComponentItem::ComponentInstance(i) => {
            let mut s = String::from(" (instance)");
            for (name, item) in i.exports(engine) {
                if let ComponentItem::ComponentFunc(f) = item.ty {
                    let _ = write!(s, "\n    {name}{}", func_sig(&f));
                }
            }
            s
        }
        ComponentItem::Type(_) | ComponentItem::Resource(_) => " (type)".to_string(),
        _ => String::new(),
    }
}

fn func_sig(f: &wasmtime::component::types::ComponentFunc) -> String {
    use wasm_wave::wasm::DisplayType;
    let params: Vec<String> = f
        .params()
        .map(|(n, t)| format!("{n}: {}", DisplayType(&t)))
        .collect();
    let mut s = format!(": func({})", params.join(", "));
    let results: Vec<String> = f.results().map(|t| DisplayType(&t).to_string()).collect();
    if !results.is_empty() {
        let _ = write!(s, " -> {}", results.join(", "));
    }
    s
}

fn wit(out: &mut String, resolve: &wit_parser::Resolve, pkg: wit_parser::PackageId) -> Result<()> {
    let others: Vec<_> = resolve
        .packages
        .iter()
        .map(|(id, _)| id)
        .filter(|id| *id != pkg)
        .collect();
    let mut printer = WitPrinter::default();
    printer.emit_docs(false);
    printer.print(resolve, pkg, &others)?;
    for line in printer.output.to_string().lines() {
        writeln!(out, "  {line}")?;
    }
    Ok(())
}

/// Linear memories of a module or of every module inside a component.
fn memories(out: &mut String, bytes: &[u8]) -> Result<()> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::MemorySection(reader) = payload? {
            for memory in reader {
                let m = memory?;
                let page = 1u64 << m.page_size_log2.unwrap_or(16);
                let max = m
                    .maximum
                    .map_or("no maximum (its budget stops growth)".to_string(), |max| {
                        format!("{} bytes maximum", max * page)
                    });
                writeln!(
                    out,
                    "memory:   {} bytes initial, {max}, {page}-byte pages",
                    m.initial * page
                )?;
            }
        }
    }
    Ok(())
}

fn core_items(out: &mut String, bytes: &[u8]) -> Result<()> {
    for payload in Parser::new(0).parse_all(bytes) {
        match payload? {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let i = import?;
                    writeln!(out, "import:   {}::{} ({:?})", i.module, i.name, i.ty)?;
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let e = export?;
                    writeln!(out, "export:   {} ({:?})", e.name, e.kind)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}
