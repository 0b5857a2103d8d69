//! `belljar run` and `belljar call`: a guest on the simulated board, through
//! the same loader path as the device (`belljar_host::runtime`).

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use belljar_host::Grants;
use belljar_host::runtime::{App, Exit, Running, Runtime};
use belljar_sim::{Press, Sim, SimBoard, SimConfig, Task, UartInput, time_limit_exit};
use wasmtime::component::{Func, Val};

use crate::guest::Source;

/// Loads guests for the simulator through the device's loader path.
pub struct Loader {
    runtime: Runtime<SimBoard>,
}

impl Loader {
    pub fn new() -> Result<Loader> {
        let runtime = Runtime::<SimBoard>::new()
            .map_err(anyhow::Error::from)
            .context("cannot create the engine")?;
        Ok(Loader { runtime })
    }

    /// Loads `source` (built first if it is a crate).
    pub fn load(&self, source: &Source) -> Result<App<SimBoard>> {
        let cwasm: &'static [u8] = Box::leak(source.cwasm()?.into_boxed_slice());
        // SAFETY: the bytes were produced by this belljar's own precompiler or
        // named by the user on their own machine; belljar's packages (signed)
        // are the way to ship untrusted code.
        unsafe { self.runtime.load(cwasm) }.map_err(|e| anyhow!("{e}"))
    }
}

/// One app alone on a simulated board.
pub struct SimApp {
    pub sim: Sim,
    pub running: Running<SimBoard>,
}

impl SimApp {
    /// Instantiates `app` on a fresh simulated board.
    pub fn start(app: &App<SimBoard>, name: &str, config: SimConfig) -> Result<SimApp> {
        Self::start_granted(app, name, config, Grants::ALL)
    }

    /// [`SimApp::start`] with only `grants` (as a signed package would give).
    pub fn start_granted(
        app: &App<SimBoard>,
        name: &str,
        config: SimConfig,
        grants: Grants,
    ) -> Result<SimApp> {
        let sim = Sim::new(config)?;
        let (board, mut access) = sim.board(name);
        access.grants = grants;
        let running = sim
            .block_on(app.instantiate(board, access, sim.limits()))
            .map_err(|e| anyhow!("{e}"))?;
        Ok(SimApp { sim, running })
    }

    /// Runs the app's `run` export until it ends or the time limit.
    pub fn run(&mut self) -> Exit {
        let exit = self
            .sim
            .run(vec![Box::pin(self.running.run())], Vec::new())
            .pop()
            .flatten();
        exit.unwrap_or_else(|| time_limit_exit(&self.sim))
    }

    /// Calls an export with dynamically typed values.
    pub fn call(&mut self, func: Func, params: &[Val], results: &mut [Val]) -> Result<(), Exit> {
        let call = self.running.call(func, params, results);
        self.sim
            .run(vec![Box::pin(call)], Vec::new())
            .pop()
            .flatten()
            .unwrap_or_else(|| Err(time_limit_exit(&self.sim)))
    }

    pub fn board(&self) -> &SimBoard {
        self.running.board()
    }

    /// Fuel burnt so far.
    pub fn fuel_used(&self) -> u64 {
        self.running.fuel_used()
    }
}

/// Loads `source` onto a fresh simulated board, with at most the linear
/// memory its crate asks for ([`Declared`]).
pub fn start(source: &Source, mut config: SimConfig) -> Result<SimApp> {
    let memory = Declared::of(source)?.memory;
    config.limits = config.limits.memory_at_most(memory);
    let loader = Loader::new()?;
    let app = loader.load(source)?;
    let name = source.name();
    SimApp::start(&app, &name, config)
}

/// How one app of `belljar run` ended.
pub struct AppReport {
    pub name: String,
    pub exit: Exit,
    pub host_calls: u64,
    pub fuel: u64,
}

/// The result of `belljar run`.
pub struct RunReport {
    pub apps: Vec<AppReport>,
    pub virtual_ms: u64,
    pub wall: std::time::Duration,
}

/// One app of `belljar run`: its timeline name, the loaded app, what it may
/// touch, and the linear memory it asks for (capped by the run's limit).
pub struct RunApp {
    pub name: String,
    pub app: App<SimBoard>,
    pub grants: Grants,
    pub memory: Option<usize>,
}

impl RunApp {
    /// An app with everything granted.
    pub fn new(name: impl Into<String>, app: App<SimBoard>) -> RunApp {
        RunApp {
            name: name.into(),
            app,
            grants: Grants::ALL,
            memory: None,
        }
    }
}

/// What a guest declares for the simulator to hold it to, as a signed
/// package would carry it: its crate's capabilities
/// (`[package.metadata.belljar.capabilities]`; everything is granted when
/// it declares none or is not a crate) and its linear memory budget (its
/// crate's `memory`, what `belljar sign` puts into its package; none if it
/// is not a crate). The crate is read once.
pub struct Declared {
    pub grants: Grants,
    pub memory: Option<usize>,
}

impl Declared {
    pub fn of(source: &Source) -> Result<Declared> {
        let Source::Crate(dir) = source else {
            return Ok(Declared {
                grants: Grants::ALL,
                memory: None,
            });
        };
        let krate = belljar_build::GuestCrate::open(dir)?;
        Ok(Declared {
            grants: match krate.capabilities {
                None => Grants::ALL,
                Some(caps) => capability_grants(&caps)?,
            },
            memory: Some(krate.memory.memory as usize),
        })
    }
}

/// Declared capabilities as grants (interfaces: whatever the app imports).
pub fn capability_grants(caps: &belljar_build::Capabilities) -> Result<Grants> {
    let i2c = caps
        .i2c
        .iter()
        .map(|g| {
            crate::package::parse_i2c_grant(g)
                .map(|(bus, address)| belljar_host::I2cGrant { bus, address })
        })
        .collect::<Result<Vec<_>>>()
        .context("package.metadata.belljar.capabilities.i2c")?;
    Ok(Grants {
        outputs: caps.outputs.iter().copied().collect(),
        inputs: caps.inputs.iter().copied().collect(),
        analog: caps.analog.iter().copied().collect(),
        i2c: Some(i2c),
        spi: Some(caps.spi.clone()),
        interfaces: None,
    })
}

/// Runs apps side by side on one simulated board until each has ended (or
/// the time limit). An app that fails to instantiate is reported; the
/// others still run.
pub fn run(sim: &Sim, apps: &[RunApp]) -> RunReport {
    run_with(sim, apps, Vec::new())
}

/// [`run`] with firmware-like `background` tasks beside the apps (dropped
/// when the apps have ended).
pub fn run_with<'a>(sim: &Sim, apps: &'a [RunApp], background: Vec<Task<'a, ()>>) -> RunReport {
    let started = Instant::now();
    let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
    let boards = sim.boards(&names);
    let mut started_apps: Vec<(usize, Running<SimBoard>)> = Vec::new();
    let mut exits: Vec<Option<Exit>> = apps.iter().map(|_| None).collect();
    for (i, (run_app, (board, mut access))) in apps.iter().zip(boards).enumerate() {
        access.grants = run_app.grants.clone();
        let limits = sim.limits().memory_at_most(run_app.memory);
        match sim.block_on(run_app.app.instantiate(board, access, limits)) {
            Ok(running) => started_apps.push((i, running)),
            Err(exit) => exits[i] = Some(exit),
        }
    }
    let tasks: Vec<Task<'_, Exit>> = started_apps
        .iter_mut()
        .map(|(_, running)| Box::pin(running.run()) as Task<'_, Exit>)
        .collect();
    let results = sim.run(tasks, background);
    let mut stats = vec![(0, 0); apps.len()];
    for ((i, running), exit) in started_apps.iter().zip(results) {
        exits[*i] = Some(exit.unwrap_or_else(|| time_limit_exit(sim)));
        stats[*i] = (running.store().data().host_calls, running.fuel_used());
    }
    let virtual_ms = sim.elapsed_ms();
    RunReport {
        apps: apps
            .iter()
            .zip(exits)
            .zip(stats)
            .map(|((run_app, exit), (host_calls, fuel))| AppReport {
                name: run_app.name.clone(),
                exit: exit.expect("every app has an exit"),
                host_calls,
                fuel,
            })
            .collect(),
        virtual_ms,
        wall: started.elapsed(),
    }
}

/// Parses `15@1200ms..1800ms` (also `15@1.2s..1.8s`).
pub fn parse_press(s: &str) -> Result<Press> {
    let err = || format!("bad --press `{s}`: expected PIN@START..END, e.g. 15@1200ms..1800ms");
    let (pin, range) = s.split_once('@').with_context(err)?;
    let (from, to) = range.split_once("..").with_context(err)?;
    let pin: u32 = pin.trim().parse().with_context(err)?;
    let from_ms = parse_duration(from).with_context(err)?.as_millis() as u64;
    let to_ms = parse_duration(to).with_context(err)?.as_millis() as u64;
    if to_ms <= from_ms {
        bail!("bad --press `{s}`: the release must come after the press");
    }
    Ok(Press {
        pin,
        from_ms,
        to_ms,
    })
}

/// `1h`, `90s`, `500ms`, `1.5s`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration> {
    let s = s.trim();
    if let Some(secs) = s.strip_suffix('s').filter(|n| !n.ends_with('m'))
        && let Ok(secs) = secs.parse::<f64>()
    {
        return Ok(std::time::Duration::from_secs_f64(secs));
    }
    humantime::parse_duration(s)
        .map_err(|e| anyhow!("bad duration `{s}`: {e} (examples: 500ms, 10s, 1h)"))
}

/// UART input from `--uart-input` (with `\r`, `\n`, `\xNN` escapes), else
/// from stdin when it is piped, else none.
pub fn uart_input(arg: Option<&str>) -> Result<UartInput> {
    match arg {
        Some(text) => Ok(UartInput::Bytes(unescape(text)?.into())),
        None if !std::io::stdin().is_terminal() => Ok(UartInput::Stdin),
        None => Ok(UartInput::Bytes(VecDeque::new())),
    }
}

pub fn unescape(s: &str) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(
                    u8::from_str_radix(&hex, 16)
                        .map_err(|_| anyhow!("bad escape `\\x{hex}` in --uart-input"))?,
                );
            }
            other => bail!(
                "bad escape `\\{}` in --uart-input",
                other.map(String::from).unwrap_or_default()
            ),
        }
    }
    Ok(out)
}

/// `belljar call`: invokes `export(args)` written in WAVE and returns the
/// results in WAVE.
pub fn call(app: &mut SimApp, expr: &str) -> Result<Vec<String>> {
    let call = crate::wave_call::parse(expr)?;
    let name = call.name().to_string();
    let func = app
        .running
        .func(&name)
        .with_context(|| format!("the component exports no function `{name}`"))?;
    let ty = func.ty(app.running.store());
    let param_types: Vec<_> = ty.params().map(|(_, t)| t).collect();
    let params: Vec<Val> = crate::wave_call::params(&call, &param_types)?;
    let mut results = vec![Val::Bool(false); ty.results().len()];
    app.call(func, &params, &mut results)
        .map_err(|exit| anyhow!("{exit}"))?;
    results
        .iter()
        .map(|v| wasm_wave::to_string(v).map_err(|e| anyhow!("cannot print the result: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn press_scripts_parse() {
        assert_eq!(
            parse_press("15@1200ms..1800ms").unwrap(),
            Press {
                pin: 15,
                from_ms: 1200,
                to_ms: 1800
            }
        );
        assert_eq!(
            parse_press("3@1.5s..2s").unwrap(),
            Press {
                pin: 3,
                from_ms: 1500,
                to_ms: 2000
            }
        );
        assert!(parse_press("15@1800ms..1200ms").is_err());
        assert!(parse_press("15").is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("1h").unwrap().as_secs(), 3600);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("2.5s").unwrap().as_millis(), 2500);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn uart_escapes() {
        assert_eq!(unescape(r"a\x7fb\r\n").unwrap(), b"a\x7fb\r\n");
        assert!(unescape(r"\q").is_err());
    }
}
