//! `belljar keygen`, `belljar sign`, `belljar verify`: signed packages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use belljar_package::ed25519_dalek::{SigningKey, VerifyingKey};
use belljar_package::{Header, Policy};
use belljar_profile::Target;

/// Writes `<base>.key` (secret) and `<base>.pub` (public), hex-encoded.
pub fn keygen(base: &Path) -> Result<(PathBuf, PathBuf)> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow!("no system randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let secret = base.with_extension("key");
    let public = base.with_extension("pub");
    if secret.exists() {
        bail!("{} exists; refusing to overwrite a key", secret.display());
    }
    std::fs::write(&secret, hex::encode(key.to_bytes()) + "\n")
        .with_context(|| format!("cannot write {}", secret.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600))?;
    }
    std::fs::write(&public, hex::encode(key.verifying_key().to_bytes()) + "\n")
        .with_context(|| format!("cannot write {}", public.display()))?;
    Ok((secret, public))
}

fn read_hex32(path: &Path, what: &str) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {what} {}", path.display()))?;
    let bytes = hex::decode(text.trim())
        .with_context(|| format!("{} is not a hex {what}", path.display()))?;
    bytes.try_into().map_err(|_| {
        anyhow!(
            "{} is not a 32-byte {what} (make one with `belljar keygen`)",
            path.display()
        )
    })
}

pub fn signing_key(path: &Path) -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&read_hex32(path, "secret key")?))
}

pub fn verifying_key(path: &Path) -> Result<VerifyingKey> {
    VerifyingKey::from_bytes(&read_hex32(path, "public key")?)
        .map_err(|_| anyhow!("{} is not a valid Ed25519 public key", path.display()))
}

/// What goes into a package besides the payload.
pub struct SignRequest<'a> {
    pub target: Target,
    pub world: &'a str,
    pub app: &'a str,
    pub version: u32,
    pub outputs: Vec<u32>,
    pub inputs: Vec<u32>,
    pub analog: Vec<u32>,
    pub i2c: Vec<(String, u16)>,
    pub spi: Vec<String>,
    pub interfaces: Vec<String>,
    /// The linear memory the app asks for (its build's, for a crate).
    pub memory: Option<u32>,
}

/// `i2c0:0x48`: an I2C device a package may address.
pub fn parse_i2c_grant(text: &str) -> Result<(String, u16)> {
    let (bus, address) = text
        .split_once(':')
        .ok_or_else(|| anyhow!("`{text}`: expected BUS:ADDRESS, e.g. i2c0:0x48"))?;
    let address = match address.strip_prefix("0x") {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => address.parse(),
    }
    .ok()
    .filter(|a| *a <= 0x7f)
    .ok_or_else(|| anyhow!("`{address}` is not a 7-bit I2C address (e.g. 0x48)"))?;
    Ok((bus.to_string(), address))
}

pub fn sign(payload: &[u8], request: &SignRequest<'_>, key: &SigningKey) -> Result<Vec<u8>> {
    let header_check = belljar_host::artifact::header(payload)
        .map_err(|e| anyhow!("the payload is not a .cwasm: {e}"))?;
    if header_check.target != Some(request.target) {
        bail!(
            "the payload is not {} bytecode; build it with `belljar build --target {}`",
            request.target,
            request.target
        );
    }
    let mut header = Header::for_payload(
        request.target,
        request.world,
        request.app,
        request.version,
        payload,
    );
    header.capabilities.outputs = request.outputs.clone();
    header.capabilities.inputs = request.inputs.clone();
    header.capabilities.analog = request.analog.clone();
    header.capabilities.i2c = request.i2c.clone();
    header.capabilities.spi = request.spi.clone();
    header.capabilities.memory = request.memory;
    header.capabilities.interfaces = request.interfaces.clone();
    Ok(belljar_package::sign(&header, payload, key))
}

/// Verifies like a device would; returns the header.
pub fn verify(
    bytes: &[u8],
    key: &VerifyingKey,
    target: Target,
    installed: Option<u32>,
) -> Result<Header> {
    let policy = Policy {
        key,
        target,
        installed,
        allow_downgrade: false,
        max_len: 4 * 1024 * 1024,
    };
    belljar_package::verify(bytes, &policy)
        .map(|v| v.header)
        .map_err(|e| anyhow!("package refused: {e}"))
}

/// The header as `belljar inspect` shows it.
pub fn describe(header: &Header) -> String {
    let c = &header.capabilities;
    format!(
        "app:      {} v{}\nworld:    {}\ntarget:   {}\nwasmtime: {}\nprofile:  v{}\npayload:  {} bytes, sha256 {}\ngrants:   outputs {:?}, inputs {:?}, analog {:?}, i2c [{}], spi {:?}, interfaces {:?}\nbudget:   {}\n",
        header.app,
        header.version,
        header.world,
        header.target,
        header.wasmtime,
        header.profile,
        header.payload_len,
        hex::encode(header.payload_sha256),
        c.outputs,
        c.inputs,
        c.analog,
        c.i2c
            .iter()
            .map(|(bus, address)| format!("{bus}:0x{address:02x}"))
            .collect::<Vec<_>>()
            .join(", "),
        c.spi,
        c.interfaces,
        c.memory
            .map_or("the device's limits".to_string(), |m| format!(
                "{m} bytes of linear memory"
            ))
    )
}

/// The interfaces a component imports (`embedded:platform/gpio`, ...): what
/// `belljar sign` grants by default.
pub fn component_imports(component: &[u8]) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.context("cannot read the component")? {
            wasmparser::Payload::ModuleSection { .. }
            | wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            wasmparser::Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    names.push(
                        import
                            .context("cannot read the component")?
                            .name
                            .name
                            .to_string(),
                    );
                }
            }
            _ => {}
        }
    }
    Ok(names)
}
