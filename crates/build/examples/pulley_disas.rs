//! Developer tool: the Pulley bytecode of a component's functions, as
//! belljar compiles it.
//!
//! `cargo run -p belljar-build --example pulley_disas -- <component.wasm>
//! [pulley32|pulley64] [name filter]`. It precompiles with belljar's profile
//! and disassembles each function the symbol table names (the table that
//! `belljar build` then drops from the `.cwasm`).
use anyhow::{Context, Result};
use belljar_profile::Target;
use object::{Object, ObjectSection, ObjectSymbol};

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: pulley_disas <component.wasm> [target] [filter]")?;
    let target: Target = match args.next() {
        Some(t) => t.parse().map_err(|e| anyhow::anyhow!("{e}"))?,
        None => Target::Pulley32,
    };
    let filter = args.next().unwrap_or_default();
    let component = std::fs::read(&path).with_context(|| format!("cannot read {path}"))?;
    let cwasm = belljar_profile::engine(target)?.precompile_component(&component)?;
    let elf = object::File::parse(&*cwasm)?;
    let text = elf.section_by_name(".text").context("no .text")?;
    let code = text.data()?;
    let mut symbols: Vec<_> = elf
        .symbols()
        .filter(|s| s.section_index() == Some(text.index()) && s.size() > 0)
        .collect();
    symbols.sort_by_key(|s| s.address());
    for symbol in symbols {
        let name = symbol.name().unwrap_or("?");
        if !name.contains(&filter) {
            continue;
        }
        let start = (symbol.address() - text.address()) as usize;
        let bytes = &code[start..start + symbol.size() as usize];
        println!("{name} ({} bytes):", bytes.len());
        let mut disas = pulley_interpreter::disas::Disassembler::new(bytes);
        disas.offsets(true).hexdump(false).start_offset(start);
        match pulley_interpreter::decode::Decoder::decode_all(&mut disas) {
            Ok(_) => println!("{}", disas.disas()),
            Err(e) => println!("{}  (stopped: {e:?})", disas.disas()),
        }
    }
    Ok(())
}
