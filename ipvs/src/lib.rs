// SPDX-License-Identifier: MIT OR Apache-2.0
//! Safe typed API for Linux IPVS (work in progress).

pub mod datagram;
pub mod engine;
mod error;
pub mod family;
mod socket;

pub use error::{Error, Op, Result};
pub use socket::NetlinkSocket;
mod handle;
pub use handle::Ipvs;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
