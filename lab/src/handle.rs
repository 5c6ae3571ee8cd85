// SPDX-License-Identifier: MIT OR Apache-2.0
//! [`Handle`]: either `ipvs` handle behind one blocking interface, so that a
//! kernel test runs the same calls through the blocking and the tokio
//! driver ([`with_each_handle`]).

use std::sync::Arc;
use std::time::Duration;

/// Which of the two handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// [`ipvs::Ipvs`].
    Blocking,
    /// [`ipvs::AsyncIpvs`], on a tokio runtime of its own.
    Async,
}

/// Both drivers.
pub const DRIVERS: [Driver; 2] = [Driver::Blocking, Driver::Async];

/// An `ipvs` handle of either driver; its operations are those of
/// [`ipvs::Ipvs`], blocking (the async handle's are run to completion on
/// the handle's own runtime).
#[derive(Debug)]
pub enum Handle {
    /// The blocking handle.
    Blocking(ipvs::Ipvs),
    /// The async handle and the runtime its calls run on (the one its
    /// socket is registered with).
    Async(ipvs::AsyncIpvs, Arc<tokio::runtime::Runtime>),
}

fn runtime() -> Arc<tokio::runtime::Runtime> {
    Arc::new(
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime"),
    )
}

impl Handle {
    /// Opens a handle of `driver` in the calling thread's namespace
    /// (`Ipvs::new`, `AsyncIpvs::new`).
    pub fn new(driver: Driver) -> ipvs::Result<Self> {
        match driver {
            Driver::Blocking => ipvs::Ipvs::new().map(Handle::Blocking),
            Driver::Async => {
                let runtime = runtime();
                let ipvs = runtime.block_on(ipvs::AsyncIpvs::new())?;
                Ok(Handle::Async(ipvs, runtime))
            }
        }
    }

    /// Opens a handle of `driver` in the named namespace (`in_netns`).
    pub fn in_netns(driver: Driver, name: &str) -> ipvs::Result<Self> {
        match driver {
            Driver::Blocking => ipvs::Ipvs::in_netns(name).map(Handle::Blocking),
            Driver::Async => {
                let runtime = runtime();
                let ipvs = runtime.block_on(ipvs::AsyncIpvs::in_netns(name))?;
                Ok(Handle::Async(ipvs, runtime))
            }
        }
    }

    /// Opens a handle of `driver` in the namespace `fd` refers to
    /// (`in_netns_fd`).
    pub fn in_netns_fd(driver: Driver, fd: std::os::fd::BorrowedFd<'_>) -> ipvs::Result<Self> {
        match driver {
            Driver::Blocking => ipvs::Ipvs::in_netns_fd(fd).map(Handle::Blocking),
            Driver::Async => {
                let runtime = runtime();
                let ipvs = runtime.block_on(ipvs::AsyncIpvs::in_netns_fd(fd))?;
                Ok(Handle::Async(ipvs, runtime))
            }
        }
    }

    /// Which driver this is.
    pub fn driver(&self) -> Driver {
        match self {
            Handle::Blocking(_) => Driver::Blocking,
            Handle::Async(..) => Driver::Async,
        }
    }

    /// `family()` of either handle.
    pub fn family(&self) -> ipvs::Result<ipvs::FamilyInfo> {
        match self {
            Handle::Blocking(ipvs) => ipvs.family(),
            Handle::Async(ipvs, runtime) => runtime.block_on(ipvs.family()),
        }
    }

    /// `set_timeout()` of either handle.
    pub fn set_timeout(&self, timeout: Duration) {
        match self {
            Handle::Blocking(ipvs) => ipvs.set_timeout(timeout),
            Handle::Async(ipvs, _) => ipvs.set_timeout(timeout),
        }
    }

    /// `with_timeout()` of either handle.
    pub fn with_timeout(&self, timeout: Duration) -> Handle {
        match self {
            Handle::Blocking(ipvs) => Handle::Blocking(ipvs.with_timeout(timeout)),
            Handle::Async(ipvs, runtime) => {
                Handle::Async(ipvs.with_timeout(timeout), Arc::clone(runtime))
            }
        }
    }
}

/// Gives [`Handle`] every operation of the `ipvs` handles.
macro_rules! dispatch {
    ($(
        $(#[$doc:meta])*
        fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;
    )*) => {
        impl Handle {
            $(
                #[doc = concat!("`", stringify!($name), "` of either handle.")]
                pub fn $name(&self $(, $arg: $ty)*) -> ipvs::Result<$ret> {
                    match self {
                        Handle::Blocking(ipvs) => ipvs.$name($($arg),*),
                        Handle::Async(ipvs, runtime) => runtime.block_on(ipvs.$name($($arg),*)),
                    }
                }
            )*
        }
    };
}

ipvs::for_each_operation!(dispatch);

/// Runs `body` once per driver, each time in a new network namespace of its
/// own (see [`crate::in_netns`]) with a handle of that driver opened there.
pub fn with_each_handle(body: impl Fn(&Handle) + Send + Sync + 'static) {
    let body = std::sync::Arc::new(body);
    for driver in DRIVERS {
        let body = body.clone();
        crate::in_netns(move || {
            let handle =
                Handle::new(driver).unwrap_or_else(|e| panic!("open the {driver:?} handle: {e}"));
            body(&handle);
        });
    }
}
