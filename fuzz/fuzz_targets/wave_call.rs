//! The WAVE call parser of `belljar call` (`crates/cli/src/wave_call.rs`,
//! compiled here as is) on arbitrary `name(args)` text against arbitrary
//! parameter types, with wasm-wave's own value type standing in for
//! Wasmtime's `Val`. The input is a type description (its first byte is its
//! length) followed by the text. Asserted: parsed arguments have the
//! parameters' kinds and print back to WAVE text that parses, against the
//! parameter's type, to a value that prints the same.
#![no_main]

#[path = "../../crates/cli/src/wave_call.rs"]
mod wave_call;

use libfuzzer_sys::fuzz_target;
use wasm_wave::value::{Type, Value};
use wasm_wave::wasm::{WasmType, WasmTypeKind, WasmValue};

/// Builds types from bytes, depth-limited.
struct Types<'d>(&'d [u8]);

impl Types<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }

    fn names(&mut self, prefix: &str) -> Vec<String> {
        let n = 1 + usize::from(self.byte() % 4);
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    fn ty(&mut self, depth: u32) -> Type {
        use WasmTypeKind as K;
        const SIMPLE: [WasmTypeKind; 13] = [
            K::Bool,
            K::S8,
            K::U8,
            K::S16,
            K::U16,
            K::S32,
            K::U32,
            K::S64,
            K::U64,
            K::F32,
            K::F64,
            K::Char,
            K::String,
        ];
        let tag = self.byte();
        if depth == 0 || usize::from(tag) < SIMPLE.len() * 8 {
            return Type::simple(SIMPLE[usize::from(tag) % SIMPLE.len()]).unwrap();
        }
        let d = depth - 1;
        match tag % 8 {
            0 => Type::list(self.ty(d)),
            1 => {
                let fields: Vec<(String, Type)> = self
                    .names("f")
                    .into_iter()
                    .map(|n| (n, self.ty(d)))
                    .collect();
                Type::record(fields).unwrap()
            }
            2 => {
                let n = 1 + usize::from(self.byte() % 3);
                Type::tuple((0..n).map(|_| self.ty(d)).collect::<Vec<_>>()).unwrap()
            }
            3 => {
                let cases: Vec<(String, Option<Type>)> = self
                    .names("c")
                    .into_iter()
                    .map(|n| {
                        let payload = self.byte() & 1 == 1;
                        (n, payload.then(|| self.ty(d)))
                    })
                    .collect();
                Type::variant(cases).unwrap()
            }
            4 => Type::enum_ty(self.names("e")).unwrap(),
            5 => Type::option(self.ty(d)),
            6 => {
                let flags = self.byte();
                let ok = (flags & 1 == 1).then(|| self.ty(d));
                let err = (flags & 2 == 2).then(|| self.ty(d));
                Type::result(ok, err)
            }
            _ => Type::flags(self.names("g")).unwrap(),
        }
    }
}

fuzz_target!(
    init: {
        let seed = |types: &[u8], text: &str| [&[types.len() as u8][..], types, text.as_bytes()].concat();
        // Types: u32; string; list<s32>; option<bool>; result<u8, string>;
        // a record; a variant; an enum; flags.
        belljar_fuzz::write_seeds([
            seed(&[1, 6 * 13 + 6], "f(42)"),
            seed(&[2, 12, 11], "f(\"hi \\u{1F44B}\", 'x')"),
            seed(&[1, 0xFF - 7, 5], "f([1, -2, 3])"),
            seed(&[1, 0xFF - 2, 0], "f(some(true))"),
            seed(&[1, 0xFE, 3, 2, 12], "f(err(\"no\"))"),
            seed(&[1, 0xF9, 1, 6, 9], "f({f0: 1.5, f1: 2})"),
            seed(&[1, 0xFB, 1, 1, 6, 0], "f(c0(7))"),
            seed(&[1, 0xFC, 2], "f(e1)"),
            seed(&[1, 0xFF, 3], "f({g0, g2})"),
            seed(&[0], "run()"),
        ]);
    },
    |data: &[u8]| {
        let Some((&n, rest)) = data.split_first() else { return };
        let (type_bytes, text) = rest.split_at(usize::from(n).min(rest.len()));
        let Ok(text) = std::str::from_utf8(text) else { return };
        let mut types = Types(type_bytes);
        let count = usize::from(types.byte() % 5);
        let params: Vec<Type> = (0..count).map(|_| types.ty(3)).collect();
        let Ok(call) = wave_call::parse(text) else { return };
        let Ok(values) = wave_call::params::<Value>(&call, &params) else { return };
        assert_eq!(values.len(), params.len());
        let mut printed = Vec::new();
        for (value, ty) in values.iter().zip(&params) {
            assert_eq!(value.kind(), ty.kind(), "a value of another kind than its type");
            let s = wasm_wave::to_string(value).expect("a parsed value prints");
            let again: Value = wasm_wave::from_str(ty, &s)
                .unwrap_or_else(|e| panic!("printed `{s}` does not parse back: {e}"));
            assert_eq!(wasm_wave::to_string(&again).unwrap(), s);
            printed.push(s);
        }
        // The whole call, printed and parsed again.
        let text = format!("{}({})", call.name(), printed.join(", "));
        let call = wave_call::parse(&text).expect("a printed call parses");
        let again = wave_call::params::<Value>(&call, &params).expect("and types");
        assert_eq!(again.len(), values.len());
    }
);
