//! Stand-ins for the seams, and a service built on them.

use crate::config::PrefetchConfig;
use crate::proxy::{Checked, ChecksumHook, ModuleService, Parts, Routes, Settings};
use crate::request::{parse, ModuleRequest};
use crate::source::{Body, FetchError, SharedSource, Source};
use crate::store::memory::{MemoryMeta, MemoryObjects};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// A source answering from a map of escaped paths to bodies.
pub struct FakeSource {
    objects: Mutex<HashMap<String, Bytes>>,
    calls: Mutex<HashMap<String, usize>>,
    failing: Mutex<bool>,
    /// Fetches wait while this is false.
    gate: watch::Sender<bool>,
}

impl FakeSource {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            objects: Mutex::default(),
            calls: Mutex::default(),
            failing: Mutex::new(false),
            gate: watch::channel(true).0,
        })
    }

    pub fn put(&self, key: &str, data: impl Into<Bytes>) {
        self.objects.lock().unwrap().insert(key.to_string(), data.into());
    }

    pub fn remove(&self, key: &str) {
        self.objects.lock().unwrap().remove(key);
    }

    /// How often `key` was asked for.
    pub fn calls(&self, key: &str) -> usize {
        self.calls.lock().unwrap().get(key).copied().unwrap_or(0)
    }

    pub fn total_calls(&self) -> usize {
        self.calls.lock().unwrap().values().sum()
    }

    /// Every fetch fails (a dead upstream) until set back.
    pub fn fail(&self, on: bool) {
        *self.failing.lock().unwrap() = on;
    }

    /// Fetches wait until `release`.
    pub fn hold(&self) {
        self.gate.send_replace(false);
    }

    pub fn release(&self) {
        self.gate.send_replace(true);
    }
}

#[async_trait::async_trait]
impl Source for FakeSource {
    async fn fetch(&self, req: &ModuleRequest) -> Result<Body, FetchError> {
        *self.calls.lock().unwrap().entry(req.rel().to_string()).or_default() += 1;
        let mut gate = self.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
        if *self.failing.lock().unwrap() {
            return Err(FetchError::Failed("the fake source is down".into()));
        }
        match self.objects.lock().unwrap().get(req.rel()) {
            Some(data) => Ok(Body::from_bytes(data.clone())),
            None => Err(FetchError::not_found("not found")),
        }
    }
}

/// A checksum hook that refuses the objects it is told to, and counts what it saw.
#[derive(Default)]
pub struct FakeHook {
    refuse: Mutex<Vec<String>>,
    pub seen: Mutex<Vec<String>>,
}

impl FakeHook {
    /// Refuses `module@version` (`.mod` with a `/go.mod` suffix, as go.sum writes it).
    pub fn refuse(&self, what: &str) {
        self.refuse.lock().unwrap().push(what.to_string());
    }
}

#[async_trait::async_trait]
impl ChecksumHook for FakeHook {
    async fn check(&self, what: &Checked<'_>) -> Result<(), String> {
        let name = match what {
            Checked::GoMod { module, version, .. } => format!("{module}@{version}/go.mod"),
            Checked::Zip { module, version, .. } => format!("{module}@{version}"),
        };
        self.seen.lock().unwrap().push(name.clone());
        if self.refuse.lock().unwrap().contains(&name) {
            return Err(format!("{name}: mismatch"));
        }
        Ok(())
    }
}

pub struct Fx {
    pub svc: Arc<ModuleService>,
    pub source: Arc<FakeSource>,
    pub objects: Arc<MemoryObjects>,
    pub meta: Arc<MemoryMeta>,
    pub hook: Arc<FakeHook>,
}

pub fn settings() -> Settings {
    Settings {
        list_ttl: Duration::from_secs(60),
        negative_ttl: Duration::from_secs(30),
        memory_bytes: 1 << 20,
        // Off, so every source call counted is a client's.
        prefetch: PrefetchConfig { enabled: false, concurrency: 4, depth: 2, zips: false },
        publish_max_bytes: 1 << 20,
    }
}

/// A service whose every module comes from one fake source.
pub fn service(settings: Settings) -> Fx {
    service_with(settings, Routes::new).with_source(FakeSource::new())
}

pub struct Builder {
    settings: Settings,
    routes: Box<dyn FnOnce(SharedSource) -> Routes>,
}

pub fn service_with(settings: Settings, routes: impl FnOnce(SharedSource) -> Routes + 'static) -> Builder {
    Builder { settings, routes: Box::new(routes) }
}

impl Builder {
    pub fn with_source(self, source: Arc<FakeSource>) -> Fx {
        let (objects, meta, hook) =
            (Arc::new(MemoryObjects::new()), Arc::new(MemoryMeta::new()), Arc::new(FakeHook::default()));
        let parts = Parts {
            objects: objects.clone(),
            meta: meta.clone(),
            routes: (self.routes)(source.clone() as SharedSource),
            checksums: hook.clone(),
            fill_rt: None,
            settings: self.settings,
            fill_metrics: Default::default(),
            leases: None,
        };
        Fx { svc: Arc::new(ModuleService::new(parts)), source, objects, meta, hook }
    }
}

/// The request for a path.
pub fn req(path: &str) -> ModuleRequest {
    parse(path, None).unwrap()
}

/// A module version's objects in the fake source: `.info`, `.mod`, `.zip`; the zip's bytes.
pub fn publish_version(source: &FakeSource, module: &str, version: &str, size: usize) -> Vec<u8> {
    let m = testkit::graph::big_module(module, version, size, 7);
    let v = &m.versions[0];
    let base = format!("{}/@v/{}", gomod::path::escape_path(module).unwrap(), version);
    let zip = v.zip_bytes(module);
    source.put(&format!("{base}.info"), v.info());
    source.put(&format!("{base}.mod"), v.go_mod.clone());
    source.put(&format!("{base}.zip"), zip.clone());
    zip
}
