//! Which device the embedder runs on: CPU by default, CUDA when built with the `cuda` feature.

use crate::error::{Error, Result};
use candle_core::Device;

/// The device the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// Run on the CPU (the default and the tested path).
    #[default]
    Cpu,
    /// Run on the first CUDA GPU (needs a build with `--features cuda`).
    Cuda,
}

impl DeviceChoice {
    /// Opens the device, or explains why it cannot be used.
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda => open_cuda(),
        }
    }
}

#[cfg(feature = "cuda")]
fn open_cuda() -> Result<Device> {
    Device::new_cuda(0).map_err(|e| Error::Usage(format!("cannot open CUDA device 0: {e}")))
}

#[cfg(not(feature = "cuda"))]
fn open_cuda() -> Result<Device> {
    Err(Error::Usage(
        "this triage binary was built without CUDA support; rebuild with `cargo build --release --features cuda` or use --device cpu".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_always_opens() {
        assert!(DeviceChoice::Cpu.open().is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_a_clear_usage_error() {
        let err = DeviceChoice::Cuda.open().unwrap_err();
        assert!(matches!(err, Error::Usage(_)));
        assert!(err.to_string().contains("--features cuda"));
    }
}
