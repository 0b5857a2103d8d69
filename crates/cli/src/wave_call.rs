//! The WAVE half of `belljar call`: `name(args)` parsed, then its arguments
//! typed against the export's parameter types. Generic over the value type
//! (Wasmtime's `Val` in the CLI) and free of any other dependency, so the
//! fuzz target `wave_call` (fuzz/) compiles this very file.

use anyhow::{Result, anyhow};
use wasm_wave::untyped::UntypedFuncCall;
use wasm_wave::wasm::WasmValue;

/// Parses `name(args)`; the arguments are checked by [`params`].
pub fn parse(expr: &str) -> Result<UntypedFuncCall<'_>> {
    UntypedFuncCall::parse(expr)
        .map_err(|e| anyhow!("cannot parse `{expr}`: {e} (expected e.g. run(some(\"Kevin\")))"))
}

/// The arguments of `call` as values of `types`.
pub fn params<V: WasmValue + 'static>(
    call: &UntypedFuncCall<'_>,
    types: &[V::Type],
) -> Result<Vec<V>> {
    call.to_wasm_params(types)
        .map_err(|e| anyhow!("arguments of `{}` do not match its type: {e}", call.name()))
}
